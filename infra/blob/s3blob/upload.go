package s3blob

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sqlfeed/sqlfeed/infra/blob"
)

// Why the raw multipart API: feature/s3/manager is deprecated, and its
// successor feature/s3/transfermanager is still v0 (its API may change); both
// own the abort. The publish guarantees need control over every step
// (conditional completion, abort on any failure, even after the caller's
// context is cancelled, and again later if the server was down). The
// multipart calls are few; the SDK still does signing, checksums and retries.
//
// Design: the key and metadata are fixed when the upload starts (CONTRACT §5:
// a version streams straight to its key). Bytes written fill a part buffer. If
// Commit comes before the first part is full, the object is one conditional
// PutObject. Otherwise a multipart upload to the key itself streams the parts
// (at most Concurrency in flight; Write blocks when they are all busy, so
// memory stays at PartSize × (Concurrency+1) whatever the size), and Commit
// completes it with the condition (If-None-Match / If-Match on
// CompleteMultipartUpload). An incomplete multipart upload is invisible, so
// readers of the key see the object whole or not at all.

// NewUpload implements blob.Store. ctx bounds the part uploads. It first
// retries (briefly) cleanups that failed before.
func (s *Store) NewUpload(ctx context.Context, key string, opt blob.WriteOptions) (blob.Upload, error) {
	dst, err := s.key(key)
	if err != nil {
		return nil, err
	}
	if s.hasPending() {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s.RetryAborts(rctx) // best effort; Close tries again
		cancel()
	}
	uctx, cancel := context.WithCancelCause(ctx)
	return &upload{
		s: s, ctx: uctx, cancel: cancel, key: key, dst: dst, opt: opt,
		free:  make(chan []byte, s.concurrency+1),
		slots: make(chan struct{}, s.concurrency),
	}, nil
}

type upload struct {
	s      *Store
	ctx    context.Context // cancelled on the first failed part
	cancel context.CancelCauseFunc
	key    string // the store's key
	dst    string // the full key in the bucket
	opt    blob.WriteOptions

	buf   []byte        // the part being filled
	free  chan []byte   // part buffers back from finished uploads
	slots chan struct{} // one token per part in flight
	wg    sync.WaitGroup
	size  int64
	next  int32
	// cleanedUp: the upload failed and was cleaned up (or tried to be) once.
	cleanedUp bool

	mu       sync.Mutex
	err      error // first error of a part upload
	parts    []types.CompletedPart
	uploadID *string // multipart upload, until completed or aborted
	done     bool    // committed or aborted: no more writes
}

// UploadID returns the multipart upload's id ("" before the first part), for
// operators and tests.
func (u *upload) UploadID() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return aws.ToString(u.uploadID)
}

// Write implements io.Writer. It returns an error once a part failed; the
// multipart upload is then already aborted.
func (u *upload) Write(p []byte) (int, error) {
	if err := u.failed(); err != nil {
		return 0, err
	}
	n := 0
	for len(p) > 0 {
		if u.buf == nil {
			select {
			case u.buf = <-u.free:
			default:
				if u.next == 0 { // maybe a small document: start small
					u.buf = make([]byte, 0, min(u.s.partSize, 64<<10))
				} else {
					u.buf = make([]byte, 0, u.s.partSize)
				}
			}
		}
		k := min(int(u.s.partSize)-len(u.buf), len(p))
		if len(u.buf)+k > cap(u.buf) { // double, not append's 1.25×: less garbage
			nb := make([]byte, len(u.buf), min(max(2*cap(u.buf), len(u.buf)+k), int(u.s.partSize)))
			copy(nb, u.buf)
			u.buf = nb
		}
		u.buf = append(u.buf, p[:k]...)
		p, n = p[k:], n+k
		u.size += int64(k)
		if int64(len(u.buf)) == u.s.partSize {
			if err := u.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// failed returns the upload's error, cleaning up after a failed part.
func (u *upload) failed() error {
	u.mu.Lock()
	done, err := u.done, u.err
	u.mu.Unlock()
	if done {
		return errors.New("s3: write after commit or abort")
	}
	if err == nil {
		err = context.Cause(u.ctx)
	}
	if err != nil {
		if !u.cleanedUp { // once; Abort and Store.RetryAborts try again
			u.cleanedUp = true
			u.cleanupDetached(u.ctx)
		}
		return err
	}
	return nil
}

// flush starts the upload of the full buffer as the next part.
func (u *upload) flush() error {
	if u.uploadID == nil {
		// CRC32 end to end, as the SDK sends it on each part anyway: declared on
		// the upload and listed per part at completion, so S3 checks the whole.
		out, err := u.s.c.CreateMultipartUpload(u.ctx, &s3.CreateMultipartUploadInput{
			Bucket: &u.s.bucket, Key: &u.dst, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
			ContentType: str(u.opt.ContentType), ContentEncoding: str(u.opt.ContentEncoding),
			CacheControl: str(u.opt.CacheControl), Metadata: u.opt.User,
		})
		if err != nil {
			err = wrap("create multipart upload", u.dst, err)
			u.fail(err)
			return err
		}
		u.mu.Lock()
		u.uploadID = out.UploadId
		u.mu.Unlock()
	}
	select {
	case u.slots <- struct{}{}:
	case <-u.ctx.Done():
		return u.failed()
	}
	u.next++
	num, body, id := u.next, u.buf, u.uploadID
	u.buf = nil
	u.wg.Go(func() {
		defer func() { <-u.slots }()
		out, err := u.s.c.UploadPart(u.ctx, &s3.UploadPartInput{
			Bucket: &u.s.bucket, Key: &u.dst, UploadId: id, PartNumber: aws.Int32(num),
			Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		}, u.s.partOpts...)
		u.free <- body[:0]
		if err != nil {
			u.fail(wrap(fmt.Sprintf("upload part %d of", num), u.dst, err))
			return
		}
		u.mu.Lock()
		u.parts = append(u.parts, types.CompletedPart{
			PartNumber: aws.Int32(num), ETag: out.ETag,
			ChecksumCRC32: out.ChecksumCRC32, ChecksumCRC32C: out.ChecksumCRC32C,
			ChecksumCRC64NVME: out.ChecksumCRC64NVME, ChecksumSHA1: out.ChecksumSHA1, ChecksumSHA256: out.ChecksumSHA256,
		})
		u.mu.Unlock()
	})
	return u.failed()
}

// fail records the first error and stops the other parts.
func (u *upload) fail(err error) {
	u.mu.Lock()
	if u.err == nil {
		u.err = err
	}
	u.mu.Unlock()
	u.cancel(err)
}

// Commit implements blob.Upload.
func (u *upload) Commit(ctx context.Context) (a blob.Attrs, err error) {
	if err := u.failed(); err != nil {
		return blob.Attrs{}, err
	}
	defer func() {
		if err != nil {
			u.cleanupDetached(ctx)
		}
		u.mu.Lock()
		u.done = true
		u.mu.Unlock()
		u.cancel(errors.New("s3: upload finished"))
	}()
	if u.uploadID == nil {
		return u.putSmall(ctx)
	}
	// Cancelling Commit's context also stops the last parts.
	stop := context.AfterFunc(ctx, func() { u.cancel(context.Cause(ctx)) })
	defer stop()
	if len(u.buf) > 0 || u.next == 0 {
		if err := u.flush(); err != nil {
			return blob.Attrs{}, err
		}
	}
	u.wg.Wait()
	if err := u.failed(); err != nil {
		return blob.Attrs{}, err
	}
	u.mu.Lock()
	parts := append([]types.CompletedPart(nil), u.parts...)
	u.mu.Unlock()
	slices.SortFunc(parts, func(a, b types.CompletedPart) int {
		return cmp.Compare(aws.ToInt32(a.PartNumber), aws.ToInt32(b.PartNumber))
	})
	ifMatch, ifNoneMatch := conditions(u.opt)
	out, err := u.s.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &u.s.bucket, Key: &u.dst, UploadId: u.uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		IfMatch:         ifMatch, IfNoneMatch: ifNoneMatch,
	})
	if err != nil {
		return blob.Attrs{}, wrap("complete multipart upload", u.dst, err)
	}
	u.mu.Lock()
	u.uploadID = nil
	u.mu.Unlock()
	return blob.Attrs{Key: u.key, Size: u.size, ETag: aws.ToString(out.ETag), ModTime: time.Now(), Meta: u.opt.Meta}, nil
}

// putSmall writes an upload that fits one part with a single PutObject.
func (u *upload) putSmall(ctx context.Context) (blob.Attrs, error) {
	ifMatch, ifNoneMatch := conditions(u.opt)
	opt := u.opt
	out, err := u.s.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &u.s.bucket, Key: &u.dst, Body: bytes.NewReader(u.buf), ContentLength: aws.Int64(int64(len(u.buf))),
		ContentType: str(opt.ContentType), ContentEncoding: str(opt.ContentEncoding),
		CacheControl: str(opt.CacheControl), Metadata: opt.User,
		IfMatch: ifMatch, IfNoneMatch: ifNoneMatch,
	}, u.s.partOpts...) // a single part: unsigned over plain HTTP like the parts (unsignedOverHTTP)
	if err != nil {
		return blob.Attrs{}, wrap("put", u.dst, err)
	}
	return blob.Attrs{Key: u.key, Size: int64(len(u.buf)), ETag: aws.ToString(out.ETag), ModTime: time.Now(), Meta: opt.Meta}, nil
}

// Abort implements blob.Upload. It aborts the multipart upload even when ctx
// is already cancelled; if the server was
// unreachable, a later Abort tries again. It is a no-op after Commit.
func (u *upload) Abort(ctx context.Context) error {
	u.mu.Lock()
	u.done = true
	u.mu.Unlock()
	u.cancel(errors.New("s3: upload aborted"))
	return u.cleanupDetached(ctx)
}

// cleanupDetached is cleanup with a context that outlives ctx's cancellation
// (a cancelled run must still abort its upload), bounded by cleanupTimeout.
func (u *upload) cleanupDetached(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	return u.cleanup(cctx)
}

// cleanup waits for the parts in flight, then aborts the multipart upload.
// What fails stays pending for Store.RetryAborts.
func (u *upload) cleanup(cctx context.Context) error {
	u.wg.Wait()
	u.buf = nil
	u.mu.Lock()
	defer u.mu.Unlock()
	var err error
	if u.uploadID != nil {
		_, err = u.s.c.AbortMultipartUpload(cctx, &s3.AbortMultipartUploadInput{
			Bucket: &u.s.bucket, Key: &u.dst, UploadId: u.uploadID,
		})
		if err = wrap("abort multipart upload", u.dst, err); err == nil || errors.Is(err, blob.ErrNotFound) {
			u.uploadID, err = nil, nil
		}
	}
	u.s.setPending(u, u.uploadID != nil)
	return err
}
