package s3blob

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
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
// successor feature/s3/transfermanager is still v0 (its API may change) and,
// like manager, wants the key when the upload starts and owns the abort. Our
// key contains the document's sha256, known only at the end, and the publish
// guarantees need control over every step (conditional completion, abort on
// any failure, even after the caller's context is cancelled, and again later if
// the server was down). The multipart calls are few; the SDK still does
// signing, checksums and retries.
//
// Design: bytes written fill a part buffer. If Commit comes before the first
// part is full, the object goes to its final key with one conditional
// PutObject: no staging at all (manifests, indexes, most feeds). Otherwise a
// multipart upload to a staging key outside the public prefix streams the
// parts (at most Concurrency in flight; Write blocks when they are all busy, so
// memory stays at PartSize × (Concurrency+1) whatever the size), Commit
// completes it, copies it server-side to the final key with the conditions
// (CopyObject, or UploadPartCopy beyond 5 GiB), and deletes the staging object.
// Readers of the final key see the object whole or not at all.

// NewUpload implements blob.Store. ctx bounds the part uploads. It first
// retries (briefly) cleanups that failed before.
func (s *Store) NewUpload(ctx context.Context) (blob.Upload, error) {
	if s.hasPending() {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s.RetryAborts(rctx) // best effort; Close tries again
		cancel()
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("s3: upload id: %w", err)
	}
	uctx, cancel := context.WithCancelCause(ctx)
	return &upload{
		s: s, ctx: uctx, cancel: cancel,
		staging: s.staging + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:]),
		free:    make(chan []byte, s.concurrency+1),
		slots:   make(chan struct{}, s.concurrency),
	}, nil
}

type upload struct {
	s       *Store
	ctx     context.Context // cancelled on the first failed part
	cancel  context.CancelCauseFunc
	staging string // full key of the staged object

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
	uploadID *string // multipart upload to staging, until completed or aborted
	staged   bool    // the staging object exists (multipart upload completed)
	done     bool    // committed or aborted: no more writes
}

// StagingKey returns the full key the upload is staged under (its multipart
// upload, then the staged object), for operators and tests.
func (u *upload) StagingKey() string { return u.staging }

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
			Bucket: &u.s.bucket, Key: &u.staging, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			err = wrap("create multipart upload", u.staging, err)
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
			Bucket: &u.s.bucket, Key: &u.staging, UploadId: id, PartNumber: aws.Int32(num),
			Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		u.free <- body[:0]
		if err != nil {
			u.fail(wrap(fmt.Sprintf("upload part %d of", num), u.staging, err))
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
func (u *upload) Commit(ctx context.Context, key string, opt blob.WriteOptions) (a blob.Attrs, err error) {
	dst, err := u.s.key(key)
	if err != nil {
		u.cleanupDetached(ctx)
		return blob.Attrs{}, err
	}
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
		return u.putSmall(ctx, key, dst, opt)
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
	if _, err := u.s.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &u.s.bucket, Key: &u.staging, UploadId: u.uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}); err != nil {
		return blob.Attrs{}, wrap("complete multipart upload", u.staging, err)
	}
	u.mu.Lock()
	u.uploadID, u.staged = nil, true
	u.mu.Unlock()
	a, err = u.s.copyObject(ctx, u.staging, dst, u.size, opt)
	if err != nil {
		return blob.Attrs{}, err
	}
	u.cleanupDetached(ctx) // delete the staging object; a leftover is swept by AbortStale / lifecycle
	a.Key = key
	return a, nil
}

// putSmall writes an upload that fits one part with a single PutObject.
func (u *upload) putSmall(ctx context.Context, key, dst string, opt blob.WriteOptions) (blob.Attrs, error) {
	ifMatch, ifNoneMatch := conditions(opt)
	out, err := u.s.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &u.s.bucket, Key: &dst, Body: bytes.NewReader(u.buf), ContentLength: aws.Int64(int64(len(u.buf))),
		ContentType: str(opt.ContentType), ContentEncoding: str(opt.ContentEncoding),
		CacheControl: str(opt.CacheControl), Metadata: opt.User,
		IfMatch: ifMatch, IfNoneMatch: ifNoneMatch,
	})
	if err != nil {
		return blob.Attrs{}, wrap("put", dst, err)
	}
	return blob.Attrs{Key: key, Size: int64(len(u.buf)), ETag: aws.ToString(out.ETag), ModTime: time.Now(), Meta: opt.Meta}, nil
}

// Abort implements blob.Upload. It aborts the multipart upload and deletes the
// staging object even when ctx is already cancelled; if the server was
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

// cleanup waits for the parts in flight, then aborts the multipart upload and
// deletes the staging object. What fails stays pending for Store.RetryAborts.
func (u *upload) cleanup(cctx context.Context) error {
	u.wg.Wait()
	u.buf = nil
	u.mu.Lock()
	defer u.mu.Unlock()
	var errs []error
	if u.uploadID != nil {
		_, err := u.s.c.AbortMultipartUpload(cctx, &s3.AbortMultipartUploadInput{
			Bucket: &u.s.bucket, Key: &u.staging, UploadId: u.uploadID,
		})
		if err = wrap("abort multipart upload", u.staging, err); err == nil || errors.Is(err, blob.ErrNotFound) {
			u.uploadID = nil
		} else {
			errs = append(errs, err)
		}
	}
	if u.staged {
		_, err := u.s.c.DeleteObject(cctx, &s3.DeleteObjectInput{Bucket: &u.s.bucket, Key: &u.staging})
		if err = wrap("delete staging object", u.staging, err); err == nil || errors.Is(err, blob.ErrNotFound) {
			u.staged = false
		} else {
			errs = append(errs, err)
		}
	}
	u.s.setPending(u, u.uploadID != nil || u.staged)
	return errors.Join(errs...)
}
