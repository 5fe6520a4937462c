//! Any bytes: decoding must not panic, and a decoded frame must survive its
//! own round trip (reserved bits may be dropped, nothing else may change).

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zroute_proto::Frame;

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = Frame::decode(Bytes::copy_from_slice(data)) else {
        return;
    };
    let encoded = frame.to_bytes();
    assert_eq!(
        encoded.len(),
        data.len(),
        "re-encoding changed the frame's size"
    );
    assert_eq!(encoded.len(), frame.encoded_len());
    let again = Frame::decode(encoded).expect("a re-encoded frame decodes");
    assert_eq!(again, frame);
});
