package encode

import (
	"io"
	"sync/atomic"
)

// asyncWriter hands each Write's bytes (copies, in recycled buffers) to a
// goroutine that writes them to next, in order. At most queued buffers exist;
// Write blocks while all of them wait. The first error of next is returned by
// every later Write and by close.
type asyncWriter struct {
	next   io.Writer
	queue  chan []byte
	free   chan []byte
	failed chan struct{} // closed on the first error (err set before)
	done   chan struct{} // closed when the goroutine has ended
	err    error
	n      int64 // bytes accepted (the caller's goroutine only)
	// aborted makes the goroutine drop what is still queued.
	aborted atomic.Bool
}

func newAsyncWriter(next io.Writer) *asyncWriter {
	a := &asyncWriter{next: next, queue: make(chan []byte, queued), free: make(chan []byte, queued),
		failed: make(chan struct{}), done: make(chan struct{})}
	for range queued {
		a.free <- make([]byte, 0, bufSize)
	}
	go a.run()
	return a
}

func (a *asyncWriter) run() {
	defer close(a.done)
	for b := range a.queue {
		if a.err == nil && !a.aborted.Load() {
			if _, err := a.next.Write(b); err != nil {
				a.err = err
				close(a.failed)
			}
		}
		a.free <- b[:0]
	}
}

// Write queues a copy of p, in chunks of at most bufSize (a large document
// costs no more than the recycled buffers).
func (a *asyncWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		var b []byte
		select {
		case <-a.failed:
			return n - len(p), a.err
		case b = <-a.free:
		}
		k := min(len(p), bufSize)
		b = append(b, p[:k]...)
		p = p[k:]
		a.queue <- b // never blocks: a buffer taken from free has a slot
		a.n += int64(k)
	}
	return n, nil
}

// close waits until everything queued is written and returns the first error.
func (a *asyncWriter) close() error {
	close(a.queue)
	<-a.done
	return a.err
}

// abort ends the goroutine, dropping what it has not written yet.
func (a *asyncWriter) abort() {
	a.aborted.Store(true)
	close(a.queue)
	<-a.done
}
