import hashlib

CHUNK = 64 * 1024


def upload_chunks(total: int):
    """A request body of `total` bytes, produced chunk by chunk (streamed)."""
    sent = 0
    block = bytes(range(256)) * (CHUNK // 256)
    while sent < total:
        n = min(CHUNK, total - sent)
        yield block[:n]
        sent += n


def digest_of(total: int) -> str:
    d = hashlib.sha256()
    for chunk in upload_chunks(total):
        d.update(chunk)
    return d.hexdigest()
