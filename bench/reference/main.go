// Command reference is the hand-written exporter that the bench compares
// sqlfeed with: what a user would write in an afternoon instead of sqlfeed.
// It runs the query through database/sql, turns every row into a
// map[string]string (every column a string, NULL as ""), encodes a JSON array
// with encoding/json and streams it to S3 in one multipart upload through the
// SDK's uploader (feature/s3/manager, default part size and concurrency). No
// sha256, no manifest, no publishing: one object, written once.
//
//	reference -driver mysql|pgx -dsn DSN -query SQL -bucket B -key K
//
// The S3 endpoint and credentials come from the standard AWS environment
// (AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, ...). It prints "rows bytes".
package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
)

func main() {
	driver := flag.String("driver", "mysql", "database/sql driver: mysql or pgx")
	dsn := flag.String("dsn", "", "the driver's DSN")
	query := flag.String("query", "", "SQL query")
	bucket := flag.String("bucket", "", "S3 bucket")
	key := flag.String("key", "export.json", "S3 key")
	flag.Parse()
	rows, n, err := export(context.Background(), *driver, *dsn, *query, *bucket, *key)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reference:", err)
		os.Exit(1)
	}
	fmt.Println(rows, n)
}

func export(ctx context.Context, driver, dsn, query, bucket, key string) (int64, int64, error) {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return 0, 0, err
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })

	pr, pw := io.Pipe()
	counted := &counter{w: pw}
	var rows int64
	go func() { // the writer side: query → maps → JSON
		bw := bufio.NewWriter(counted)
		var err error
		if rows, err = write(ctx, db, query, bw); err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	//lint:ignore SA1019 deprecated, but the uploader users have (transfermanager is new)
	_, err = manager.NewUploader(client).Upload(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: pr, ContentType: aws.String("application/json"),
	})
	pr.CloseWithError(err) // unblocks the writer if the upload failed
	if err != nil {
		return rows, counted.n, fmt.Errorf("upload: %w", err)
	}
	return rows, counted.n, nil
}

func write(ctx context.Context, db *sql.DB, query string, w io.Writer) (int64, error) {
	r, err := db.QueryContext(ctx, query)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	cols, err := r.Columns()
	if err != nil {
		return 0, err
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	enc := json.NewEncoder(w)
	if _, err := io.WriteString(w, "["); err != nil {
		return 0, err
	}
	var n int64
	for r.Next() {
		if err := r.Scan(ptrs...); err != nil {
			return n, err
		}
		row := make(map[string]string, len(cols))
		for i, c := range cols {
			row[c] = vals[i].String
		}
		if n > 0 {
			if _, err := io.WriteString(w, ","); err != nil {
				return n, err
			}
		}
		if err := enc.Encode(row); err != nil {
			return n, err
		}
		n++
	}
	if err := r.Err(); err != nil {
		return n, err
	}
	_, err = io.WriteString(w, "]\n")
	return n, err
}

// counter counts the bytes written through it.
type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
