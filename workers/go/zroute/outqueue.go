package zroute

import "sync"

// outItem is one frame waiting to be sent.
type outItem struct {
	part  []byte
	alone bool // send in a message of its own (HELLO, §9.2)
	close bool // marker: close the socket once everything before it is sent
}

// outQueue is the session's unbounded, ordered send queue. Frames are
// enqueued under the session lock, so their order on the wire is the order
// in which the session produced them (§3.2). DATA is bounded by flow
// control; control frames are small.
type outQueue struct {
	mu     sync.Mutex
	items  []outItem
	notify chan struct{}
	closed bool
}

func newOutQueue() *outQueue {
	return &outQueue{notify: make(chan struct{}, 1)}
}

func (q *outQueue) push(it outItem) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.items = append(q.items, it)
	if it.close {
		q.closed = true
	}
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// batch removes and returns the next message to send: one alone item, or a
// run of ordinary frames of at most maxParts parts and roughly maxBytes
// bytes (§3.2 allows batching, one frame per part). closeAfter reports a
// close marker right after the batch.
func (q *outQueue) batch(maxParts, maxBytes int) (parts [][]byte, closeAfter bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	i, size := 0, 0
	for i < len(q.items) {
		it := q.items[i]
		if it.close {
			if i == 0 {
				q.items = q.items[1:]
				return nil, true
			}
			break
		}
		if it.alone {
			if i == 0 {
				parts = append(parts, it.part)
				i = 1
			}
			break
		}
		if i > 0 && (i >= maxParts || size+len(it.part) > maxBytes) {
			break
		}
		parts = append(parts, it.part)
		size += len(it.part)
		i++
	}
	q.items = q.items[i:]
	if len(q.items) > 0 && q.items[0].close && len(parts) > 0 {
		q.items = q.items[1:]
		closeAfter = true
	}
	return parts, closeAfter
}
