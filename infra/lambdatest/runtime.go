// Package lambdatest runs a real Lambda bootstrap binary under a local
// implementation of the Lambda Runtime API (the endpoints a custom runtime
// talks to), so tests can invoke it as Lambda would without Docker, SAM or the
// Runtime Interface Emulator.
package lambdatest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const apiPrefix = "/2018-06-01/runtime"

// Result is what the function answered to one invocation.
type Result struct {
	RequestID string
	// Response is the body posted to /response (nil on error).
	Response []byte
	// Error is the body posted to /error (nil on success).
	Error *ErrorBody
	// ErrorType is the Lambda-Runtime-Function-Error-Type header of an error.
	ErrorType string
	Duration  time.Duration
}

// ErrorBody is the error document a runtime posts.
type ErrorBody struct {
	ErrorMessage string   `json:"errorMessage"`
	ErrorType    string   `json:"errorType"`
	StackTrace   []string `json:"stackTrace,omitempty"`
}

type invocation struct {
	id       string
	arn      string // the invoked function ARN
	payload  []byte
	deadline time.Time
	done     chan Result
	start    time.Time
}

// Runtime is a Runtime API server with one function process attached.
type Runtime struct {
	t   testing.TB
	srv *http.Server
	ln  net.Listener
	cmd *exec.Cmd

	queue chan *invocation

	mu        sync.Mutex
	pending   map[string]*invocation
	started   time.Time
	firstNext time.Time
	initErr   *ErrorBody
	nextSeen  chan struct{}
	exited    chan struct{}
	exitErr   error
	seq       int

	// stdout and stderr are files, not pipes: what the function wrote before
	// answering an invocation is in them when Invoke returns.
	stdout, stderr string
	timeout        time.Duration
}

// Options configure Start.
type Options struct {
	// Env is added to a minimal environment (PATH, HOME, TMPDIR and the Lambda variables).
	Env []string
	// Dir is the working directory (default: the binary's folder, like LAMBDA_TASK_ROOT).
	Dir string
	// Timeout is the function timeout given in each invocation's deadline (default 60s).
	Timeout time.Duration
}

// Start serves the Runtime API on a loopback port and starts bootstrap with
// AWS_LAMBDA_RUNTIME_API pointing at it. The process is killed when the test ends.
func Start(t testing.TB, bootstrap string, opt Options) *Runtime {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opt.Timeout == 0 {
		opt.Timeout = 60 * time.Second
	}
	r := &Runtime{t: t, ln: ln, queue: make(chan *invocation), pending: map[string]*invocation{},
		nextSeen: make(chan struct{}), exited: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiPrefix+"/invocation/next", r.next)
	mux.HandleFunc("POST "+apiPrefix+"/invocation/{id}/response", r.response)
	mux.HandleFunc("POST "+apiPrefix+"/invocation/{id}/error", r.errorPost)
	mux.HandleFunc("POST "+apiPrefix+"/init/error", r.initError)
	r.srv = &http.Server{Handler: mux}
	go r.srv.Serve(ln)

	dir := opt.Dir
	if dir == "" {
		dir = dirOf(bootstrap)
	}
	cmd := exec.Command(bootstrap)
	cmd.Dir = dir
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"TMPDIR=" + os.TempDir(),
		"AWS_LAMBDA_RUNTIME_API=" + ln.Addr().String(),
		"AWS_LAMBDA_FUNCTION_NAME=sqlfeed-export",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/sqlfeed-export",
		"LAMBDA_TASK_ROOT=" + dir,
		"AWS_REGION=us-east-1",
	}, opt.Env...)
	logs := t.TempDir()
	r.stdout, r.stderr = filepath.Join(logs, "stdout"), filepath.Join(logs, "stderr")
	for _, out := range []struct {
		path string
		to   *io.Writer
	}{{r.stdout, &cmd.Stdout}, {r.stderr, &cmd.Stderr}} {
		f, err := os.Create(out.path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		*out.to = f
	}
	r.cmd = cmd
	r.started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bootstrap, err)
	}
	go func() {
		err := cmd.Wait()
		r.mu.Lock()
		r.exitErr = err
		r.mu.Unlock()
		close(r.exited)
	}()
	r.timeout = opt.Timeout
	t.Cleanup(r.Stop)
	return r
}

func dirOf(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[:i]
	}
	return "."
}

// Stop kills the function process and closes the server.
func (r *Runtime) Stop() {
	if r.cmd.Process != nil {
		r.cmd.Process.Kill()
	}
	<-r.exited
	r.srv.Close()
}

// WaitReady waits for the first /next request (end of init) and returns the
// init time: process start → first /next. It fails if the process exits or
// reports an init error first.
func (r *Runtime) WaitReady(timeout time.Duration) (time.Duration, error) {
	select {
	case <-r.nextSeen:
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.firstNext.Sub(r.started), nil
	case <-r.exited:
		return 0, fmt.Errorf("bootstrap exited during init: %v (init error %+v); stderr:\n%s", r.exitErr, r.initErr, r.Stderr())
	case <-time.After(timeout):
		return 0, fmt.Errorf("bootstrap sent no /next within %v; stderr:\n%s", timeout, r.Stderr())
	}
}

// FunctionARN is the invoked function ARN Invoke reports to the function.
const FunctionARN = "arn:aws:lambda:us-east-1:123456789012:function:sqlfeed-export"

// Invoke sends payload as the next event and waits for the function's answer.
func (r *Runtime) Invoke(ctx context.Context, payload []byte) (Result, error) {
	return r.InvokeARN(ctx, FunctionARN, payload)
}

// InvokeARN is Invoke through the function ARN arn (e.g. an alias's or a
// version's qualified ARN), as the function's context reports it.
func (r *Runtime) InvokeARN(ctx context.Context, arn string, payload []byte) (Result, error) {
	r.mu.Lock()
	r.seq++
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", r.seq)
	r.mu.Unlock()
	inv := &invocation{id: id, arn: arn, payload: payload, deadline: time.Now().Add(r.timeout), done: make(chan Result, 1)}
	select {
	case r.queue <- inv:
	case <-r.exited:
		return Result{}, fmt.Errorf("bootstrap exited: %v; stderr:\n%s", r.exitErr, r.Stderr())
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	select {
	case res := <-inv.done:
		return res, nil
	case <-r.exited:
		return Result{}, fmt.Errorf("bootstrap exited during invocation %s: %v; stderr:\n%s", id, r.exitErr, r.Stderr())
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Stdout returns what the function printed on stdout (EMF metric lines).
func (r *Runtime) Stdout() string { return readFile(r.stdout) }

// Stderr returns what the function printed on stderr (its logs).
func (r *Runtime) Stderr() string { return readFile(r.stderr) }

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// InitError returns the error posted to /runtime/init/error, if any.
func (r *Runtime) InitError() *ErrorBody {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.initErr
}

// PID returns the function's process id.
func (r *Runtime) PID() int { return r.cmd.Process.Pid }

func (r *Runtime) next(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	if r.firstNext.IsZero() {
		r.firstNext = time.Now()
		close(r.nextSeen)
	}
	r.mu.Unlock()
	var inv *invocation
	select {
	case inv = <-r.queue:
	case <-req.Context().Done():
		return
	}
	inv.start = time.Now()
	r.mu.Lock()
	r.pending[inv.id] = inv
	r.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", inv.arn)
	h.Set("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0")
	w.WriteHeader(http.StatusOK)
	w.Write(inv.payload)
}

func (r *Runtime) take(w http.ResponseWriter, req *http.Request) (*invocation, []byte, bool) {
	id := req.PathValue("id")
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, nil, false
	}
	r.mu.Lock()
	inv, ok := r.pending[id]
	delete(r.pending, id)
	r.mu.Unlock()
	if !ok {
		http.Error(w, `{"errorMessage":"unknown request id","errorType":"InvalidRequestID"}`, http.StatusBadRequest)
		return nil, nil, false
	}
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"status":"OK"}`)
	return inv, body, true
}

func (r *Runtime) response(w http.ResponseWriter, req *http.Request) {
	inv, body, ok := r.take(w, req)
	if !ok {
		return
	}
	inv.done <- Result{RequestID: inv.id, Response: body, Duration: time.Since(inv.start)}
}

func (r *Runtime) errorPost(w http.ResponseWriter, req *http.Request) {
	inv, body, ok := r.take(w, req)
	if !ok {
		return
	}
	var eb ErrorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		eb = ErrorBody{ErrorMessage: string(body), ErrorType: "unparsable"}
	}
	inv.done <- Result{RequestID: inv.id, Error: &eb, ErrorType: req.Header.Get("Lambda-Runtime-Function-Error-Type"), Duration: time.Since(inv.start)}
}

func (r *Runtime) initError(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var eb ErrorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		eb = ErrorBody{ErrorMessage: string(body)}
	}
	r.mu.Lock()
	r.initErr = &eb
	r.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"status":"OK"}`)
}
