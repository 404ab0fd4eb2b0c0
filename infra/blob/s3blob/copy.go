package s3blob

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sqlfeed/sqlfeed/infra/blob"
)

// copyObject copies the full key src to the full key dst server-side, with
// opt's metadata (REPLACE) and conditions. size is src's size, or -1 to look
// it up.
//
// An unconditional copy of up to 5 GiB is one CopyObject. A conditional copy
// (or one beyond 5 GiB) is a multipart upload of UploadPartCopy ranges whose
// CompleteMultipartUpload carries If-Match / If-None-Match: AWS S3 honours
// those headers on CopyObject too, but MinIO (checked at the pinned version,
// see its CopyObjectHandler) silently ignores them there, while both honour
// them on CompleteMultipartUpload. One portable path beats a server sniff.
func (s *Store) copyObject(ctx context.Context, src, dst string, size int64, opt blob.WriteOptions) (blob.Attrs, error) {
	if size < 0 {
		h, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &src})
		if err != nil {
			return blob.Attrs{}, wrap("copy: head source", src, err)
		}
		size = aws.ToInt64(h.ContentLength)
	}
	a := blob.Attrs{Size: size, Meta: opt.Meta}
	ifMatch, ifNoneMatch := conditions(opt)
	if size > maxCopySize || ifMatch != nil || ifNoneMatch != nil {
		return s.multipartCopy(ctx, src, dst, size, opt)
	}
	out, err := s.c.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: &s.bucket, Key: &dst, CopySource: aws.String(copySource(s.bucket, src)),
		MetadataDirective: types.MetadataDirectiveReplace,
		ContentType:       str(opt.ContentType), ContentEncoding: str(opt.ContentEncoding),
		CacheControl: str(opt.CacheControl), Metadata: opt.User,
		IfMatch: ifMatch, IfNoneMatch: ifNoneMatch,
	})
	if err != nil {
		return blob.Attrs{}, wrap("copy to", dst, err)
	}
	if r := out.CopyObjectResult; r != nil {
		a.ETag, a.ModTime = aws.ToString(r.ETag), aws.ToTime(r.LastModified)
	}
	return a, nil
}

// multipartCopy copies src to dst in parts of up to 5 GiB with UploadPartCopy.
func (s *Store) multipartCopy(ctx context.Context, src, dst string, size int64, opt blob.WriteOptions) (blob.Attrs, error) {
	ifMatch, ifNoneMatch := conditions(opt)
	if size == 0 { // no byte range to copy: write the empty object itself
		out, err := s.c.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &s.bucket, Key: &dst, Body: bytes.NewReader(nil), ContentLength: aws.Int64(0),
			ContentType: str(opt.ContentType), ContentEncoding: str(opt.ContentEncoding),
			CacheControl: str(opt.CacheControl), Metadata: opt.User,
			IfMatch: ifMatch, IfNoneMatch: ifNoneMatch,
		})
		if err != nil {
			return blob.Attrs{}, wrap("copy to", dst, err)
		}
		return blob.Attrs{ETag: aws.ToString(out.ETag), ModTime: time.Now(), Meta: opt.Meta}, nil
	}
	cr, err := s.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &s.bucket, Key: &dst,
		ContentType: str(opt.ContentType), ContentEncoding: str(opt.ContentEncoding),
		CacheControl: str(opt.CacheControl), Metadata: opt.User,
	})
	if err != nil {
		return blob.Attrs{}, wrap("copy: create multipart upload", dst, err)
	}
	id := cr.UploadId
	ok := false
	defer func() {
		if !ok {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			s.c.AbortMultipartUpload(cctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &dst, UploadId: id})
		}
	}()
	const partSize = 1 << 30 // ranges of 1 GiB: at most 5 TiB / 1 GiB parts
	var parts []types.CompletedPart
	for off, n := int64(0), int32(1); off < size; off, n = off+partSize, n+1 {
		end := min(off+partSize, size) - 1
		out, err := s.c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
			Bucket: &s.bucket, Key: &dst, UploadId: id, PartNumber: aws.Int32(n),
			CopySource:      aws.String(copySource(s.bucket, src)),
			CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, end)),
		})
		if err != nil {
			return blob.Attrs{}, wrap("copy part to", dst, err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.CopyPartResult.ETag})
	}
	out, err := s.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.bucket, Key: &dst, UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		IfMatch:         ifMatch, IfNoneMatch: ifNoneMatch,
	})
	if err != nil {
		return blob.Attrs{}, wrap("copy: complete multipart upload", dst, err)
	}
	ok = true
	return blob.Attrs{Size: size, ETag: aws.ToString(out.ETag), ModTime: time.Now(), Meta: opt.Meta}, nil
}

// copySource is the x-amz-copy-source value: bucket/key, URL-escaped per segment.
func copySource(bucket, key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return bucket + "/" + strings.Join(segs, "/")
}
