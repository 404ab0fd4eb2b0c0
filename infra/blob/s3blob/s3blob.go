// Package s3blob is the S3 blob store (s3://bucket/prefix), on aws-sdk-go-v2
// with the standard configuration chain (see NewClient). It keeps the same keys
// and metadata as the local-folder store and honours the conditional writes the
// publisher relies on (If-None-Match: * for immutable versions, If-Match for the
// manifest) with S3's own preconditions, so they hold across processes and
// machines.
//
// URL: s3://bucket/prefix[?part_size=BYTES&concurrency=N]. Endpoint, region and
// credentials come from the standard chain (NewClient).
//
// For operators (template.yaml): streamed uploads go straight to their key
// (a multipart upload is invisible until completed), so the publisher's role
// needs s3:PutObject, s3:GetObject and s3:AbortMultipartUpload on
// bucket/<prefix>/* only, plus s3:DeleteObject and s3:ListBucket on the feeds'
// versions/ (the publisher deletes and lists nothing else). A lifecycle rule aborting incomplete multipart uploads after a day
// covers processes killed mid-upload (a live run aborts its own on failure). The public policy is PublicReadPolicy.
package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/sqlfeed/sqlfeed/infra/blob"
)

func init() {
	blob.Register("s3", func(ctx context.Context, u *url.URL) (blob.Store, error) {
		if u.Host == "" {
			return nil, errors.New("s3:// URL needs a bucket (s3://bucket/prefix)")
		}
		var o Options
		q := u.Query()
		if v := q.Get("part_size"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("part_size %q: %w", v, err)
			}
			o.PartSize = n
		}
		if v := q.Get("concurrency"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("concurrency %q: %w", v, err)
			}
			o.Concurrency = n
		}
		return Open(ctx, u.Host, u.Path, o)
	})
}

const (
	// DefaultPartSize is the multipart part size: memory per in-flight part.
	// S3's minimum: with DefaultConcurrency, an upload holds at most 20 MiB,
	// which keeps the whole process under 64 MiB (docs/benchmarks.md) and
	// still allows 10,000 × 5 MiB ≈ 48 GiB per document.
	DefaultPartSize = MinPartSize
	// MinPartSize is S3's minimum size of every part but the last.
	MinPartSize = 5 << 20
	// DefaultConcurrency is the number of parts uploaded at once.
	DefaultConcurrency = 3
	// maxCopySize is the largest object CopyObject copies in one request;
	// larger ones are copied with UploadPartCopy.
	maxCopySize = 5 << 30
	// cleanupTimeout bounds aborts and deletes done after the caller's context
	// is gone (a cancelled run must still abort its multipart upload).
	cleanupTimeout = 30 * time.Second
)

// Options tune a store. Zero values take the defaults.
type Options struct {
	// PartSize is the size of multipart parts (≥ 5 MiB). Uploads smaller than
	// one part are sent with a single PutObject.
	PartSize int64
	// Concurrency is the number of parts in flight. Memory held by one upload
	// is at most PartSize × (Concurrency + 1).
	Concurrency int
	// Client overrides the client built from the standard chain.
	Client *s3.Client
}

// Store is a blob.Store over one bucket and key prefix.
type Store struct {
	c           *s3.Client
	bucket      string
	prefix      string // "" or "a/b/"
	partSize    int64
	concurrency int
	// partOpts are per-call options of UploadPart (see unsignedOverHTTP).
	partOpts []func(*s3.Options)

	mu      sync.Mutex
	pending map[*upload]struct{} // uploads whose abort failed
}

// Open returns a store for bucket and key prefix, with a client from NewClient
// unless o.Client is set. It does not contact the server.
func Open(ctx context.Context, bucket, prefix string, o Options) (*Store, error) {
	if bucket == "" {
		return nil, errors.New("s3: empty bucket name")
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.PartSize < MinPartSize {
		return nil, fmt.Errorf("s3: part size %d is below S3's minimum of %d", o.PartSize, MinPartSize)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	c := o.Client
	if c == nil {
		var err error
		if c, err = NewClient(ctx); err != nil {
			return nil, err
		}
	}
	p := strings.Trim(prefix, "/")
	if p != "" {
		p += "/"
	}
	st := &Store{
		c: c, bucket: bucket, prefix: p,
		partSize: o.PartSize, concurrency: o.Concurrency,
	}
	if ep := c.Options().BaseEndpoint; ep != nil && strings.HasPrefix(strings.ToLower(*ep), "http://") {
		st.partOpts = append(st.partOpts, unsignedOverHTTP)
	}
	return st, nil
}

// UploadMemory returns the most memory one upload holds in part buffers:
// PartSize × (Concurrency + 1).
func (s *Store) UploadMemory() int64 { return s.partSize * int64(s.concurrency+1) }

// unsignedOverHTTP sends multipart parts with UNSIGNED-PAYLOAD on a plain-HTTP
// endpoint (MinIO in tests and benchmarks, S3-compatible servers on a private
// network). There the SDK would otherwise sign each part's SHA-256, one more
// pass over every byte in sqlfeed and another in the server (a fifth of a
// MinIO export's CPU, docs/benchmarks.md). Each part still carries its CRC32
// checksum, which the server verifies, and the request itself stays signed.
// Over HTTPS the SDK already streams parts unsigned with a trailing checksum.
//
// The payload hash is set before the checksum middleware runs, which would
// otherwise compute the SHA-256 along with the CRC32 (the SDK's own
// SwapComputePayloadSHA256ForUnsignedPayloadMiddleware acts too late for that).
func unsignedOverHTTP(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("sqlfeedUnsignedPayload",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				return next.HandleInitialize(v4.SetPayloadHash(ctx, "UNSIGNED-PAYLOAD"), in)
			}), middleware.Before)
	})
}

// Client returns the S3 client of the store.
func (s *Store) Client() *s3.Client { return s.c }

// Bucket returns the bucket name.
func (s *Store) Bucket() string { return s.bucket }

// Prefix returns the key prefix ("" or ending in "/").
func (s *Store) Prefix() string { return s.prefix }

func (s *Store) key(key string) (string, error) {
	clean := path.Clean("/" + key)[1:]
	if key == "" || clean != key {
		return "", fmt.Errorf("s3: invalid key %q", key)
	}
	return s.prefix + key, nil
}

// Head implements blob.Store.
func (s *Store) Head(ctx context.Context, key string) (blob.Attrs, error) {
	k, err := s.key(key)
	if err != nil {
		return blob.Attrs{}, err
	}
	out, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil {
		return blob.Attrs{Date: errorDate(err)}, wrap("head", k, err)
	}
	return blob.Attrs{
		Key: key, Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag),
		ModTime: aws.ToTime(out.LastModified), Date: serverTime(out.ResultMetadata),
		Meta: meta(out.ContentType, out.ContentEncoding, out.CacheControl, out.Metadata),
	}, nil
}

// serverTime is the Date of the response (the store's clock), zero if absent.
func serverTime(md middleware.Metadata) time.Time {
	t, _ := awsmiddleware.GetServerTime(md)
	return t
}

// Get implements blob.Store.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, blob.Attrs, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, blob.Attrs{}, err
	}
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil {
		return nil, blob.Attrs{Date: errorDate(err)}, wrap("get", k, err)
	}
	return out.Body, blob.Attrs{
		Key: key, Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag),
		ModTime: aws.ToTime(out.LastModified), Date: serverTime(out.ResultMetadata),
		Meta: meta(out.ContentType, out.ContentEncoding, out.CacheControl, out.Metadata),
	}, nil
}

// Put implements blob.Store: small objects go in one PutObject, larger ones
// through a multipart upload.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opt blob.WriteOptions) (blob.Attrs, error) {
	// A body already in memory that fits one part (a *bytes.Buffer: paged
	// feeds' pages) is sent as it is, not copied into a part buffer first.
	if bb, ok := r.(*bytes.Buffer); ok && int64(bb.Len()) <= s.partSize {
		dst, err := s.key(key)
		if err != nil {
			return blob.Attrs{}, err
		}
		return (&upload{s: s, key: key, dst: dst, opt: opt, buf: bb.Bytes()}).putSmall(ctx)
	}
	u, err := s.NewUpload(ctx, key, opt)
	if err != nil {
		return blob.Attrs{}, err
	}
	defer u.Abort(ctx)
	if _, err := io.Copy(u, r); err != nil {
		return blob.Attrs{}, fmt.Errorf("s3: put %s: %w", key, err)
	}
	return u.Commit(ctx)
}

// Copy implements blob.Store with a server-side copy that replaces the
// metadata with opt's (MetadataDirective REPLACE); the bytes never travel
// through this process.
func (s *Store) Copy(ctx context.Context, src, dst string, opt blob.WriteOptions) (blob.Attrs, error) {
	sk, err := s.key(src)
	if err != nil {
		return blob.Attrs{}, err
	}
	dk, err := s.key(dst)
	if err != nil {
		return blob.Attrs{}, err
	}
	a, err := s.copyObject(ctx, sk, dk, -1, opt)
	if err != nil {
		return blob.Attrs{}, err
	}
	a.Key = dst
	return a, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	k, err := s.key(key)
	if err != nil {
		return err
	}
	if _, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &k}); err != nil {
		if err := wrap("delete", k, err); !errors.Is(err, blob.ErrNotFound) {
			return err
		}
	}
	return nil
}

// List implements blob.Store. The attributes carry key, size, ETag and
// modification time; metadata needs a Head.
func (s *Store) List(ctx context.Context, prefix string) ([]blob.Attrs, error) {
	full := s.prefix + prefix
	var out []blob.Attrs
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &full})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrap("list", full, err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			out = append(out, blob.Attrs{
				Key: strings.TrimPrefix(k, s.prefix), Size: aws.ToInt64(o.Size),
				ETag: aws.ToString(o.ETag), ModTime: aws.ToTime(o.LastModified),
			})
		}
	}
	return out, nil // S3 lists in UTF-8 byte order, which is Go's string order
}

// Close implements blob.Store. It retries the cleanup of uploads whose abort
// failed earlier (the server was unreachable), so a run that ends after the
// server is back leaves no multipart upload behind.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	return s.RetryAborts(ctx)
}

// RetryAborts retries aborting the multipart uploads and deleting the staged
// objects that earlier failed to be cleaned up. NewUpload and Close call it too.
func (s *Store) RetryAborts(ctx context.Context) error {
	s.mu.Lock()
	ups := make([]*upload, 0, len(s.pending))
	for u := range s.pending {
		ups = append(ups, u)
	}
	s.mu.Unlock()
	var errs []error
	for _, u := range ups {
		errs = append(errs, u.cleanup(ctx))
	}
	return errors.Join(errs...)
}

func (s *Store) hasPending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending) > 0
}

// setPending records whether u still has something to clean up.
func (s *Store) setPending(u *upload, pending bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !pending {
		delete(s.pending, u)
		return
	}
	if s.pending == nil {
		s.pending = map[*upload]struct{}{}
	}
	s.pending[u] = struct{}{}
}

func meta(ct, ce, cc *string, user map[string]string) blob.Meta {
	m := blob.Meta{ContentType: aws.ToString(ct), ContentEncoding: aws.ToString(ce), CacheControl: aws.ToString(cc)}
	if len(user) > 0 {
		m.User = make(map[string]string, len(user))
		for k, v := range user {
			m.User[strings.ToLower(k)] = v
		}
	}
	return m
}

// str returns nil for "", so the SDK leaves the header out.
func str(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// conditions returns the If-Match / If-None-Match headers of opt.
func conditions(opt blob.WriteOptions) (ifMatch, ifNoneMatch *string) {
	if opt.IfNoneMatch {
		ifNoneMatch = aws.String("*")
	}
	return str(opt.IfMatch), ifNoneMatch
}
