// Package asltest runs a state machine definition (Amazon States Language)
// locally with aws-local-stepfunctions and validates it with asl-validator,
// both pinned and installed outside the repo by scripts/stepfunctions.sh.
// Every Task state is answered by a Go function, e.g. one that invokes the
// real bootstrap through infra/lambdatest. Without the tools a test skips,
// and under CI=true it fails (infra/testsvc).
package asltest

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sqlfeed/sqlfeed/infra/testsvc"
)

//go:embed run.cjs
var runner []byte

// Answer is a Lambda invocation's outcome as the lambda:invoke integration
// reports it: the function's payload, or its error (ErrorType names it for
// Retry and Catch).
type Answer struct {
	Payload         json.RawMessage `json:"Payload,omitempty"`
	StatusCode      int             `json:"StatusCode,omitempty"`
	ExecutedVersion string          `json:"ExecutedVersion,omitempty"`
	ErrorType       string          `json:"errorType,omitempty"`
	ErrorMessage    string          `json:"errorMessage,omitempty"`
}

// Invoke answers the Task state state invoking function with payload.
type Invoke func(ctx context.Context, state, function string, payload json.RawMessage) Answer

// Execution is how a run ended: SUCCEEDED with its output, or FAILED with
// the error name and cause.
type Execution struct {
	Status string          `json:"status"`
	Output json.RawMessage `json:"output"`
	Error  string          `json:"error"`
	Cause  string          `json:"cause"`
}

// Machine runs definitions; Tools finds it.
type Machine struct {
	node, dir, script string
}

// Tools returns the installed tools, or skips t (fails it under CI=true).
func Tools(t testing.TB) *Machine {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testsvc.Missing(t, "node", err, "install Node.js 20 or later (apt-get install nodejs npm)")
	}
	dir := os.Getenv("SQLFEED_STEPFUNCTIONS")
	if dir == "" {
		cache := os.Getenv("SQLFEED_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "sqlfeed")
		}
		dir = filepath.Join(cache, "stepfunctions")
	}
	for _, m := range []string{"aws-local-stepfunctions", "asl-validator"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", m, "package.json")); err != nil {
			testsvc.Missing(t, m, err, "run scripts/stepfunctions.sh")
		}
	}
	script := filepath.Join(t.TempDir(), "run.cjs")
	if err := os.WriteFile(script, runner, 0o644); err != nil {
		t.Fatal(err)
	}
	return &Machine{node: node, dir: dir, script: script}
}

// Validate checks definition with asl-validator; the error lists its findings.
func (m *Machine) Validate(ctx context.Context, definition []byte) error {
	var res Execution
	if err := m.exec(ctx, nil, &res, "validate", definition, nil); err != nil {
		return err
	}
	if res.Status != "VALID" {
		return fmt.Errorf("asl-validator: %s", res.Error)
	}
	return nil
}

// Run executes definition on input, every Task answered by invoke.
func (m *Machine) Run(ctx context.Context, definition, input []byte, invoke Invoke) (Execution, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Execution{}, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var call struct {
			State    string          `json:"state"`
			Function string          `json:"function"`
			Payload  json.RawMessage `json:"payload"`
		}
		if err := json.NewDecoder(r.Body).Decode(&call); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a := invoke(r.Context(), call.State, call.Function, call.Payload)
		if a.ErrorType == "" && a.StatusCode == 0 {
			a.StatusCode = 200
		}
		json.NewEncoder(w).Encode(a)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	var res Execution
	env := []string{"ASL_INVOKE_URL=http://" + ln.Addr().String() + "/"}
	err = m.exec(ctx, env, &res, "run", definition, input)
	return res, err
}

// exec runs the script in mode on definition (and input), decoding its line into res.
func (m *Machine) exec(ctx context.Context, env []string, res *Execution, mode string, definition, input []byte) error {
	dir, err := os.MkdirTemp("", "asltest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	args := []string{m.script, mode}
	for i, b := range [][]byte{definition, input} {
		if b == nil {
			continue
		}
		p := filepath.Join(dir, fmt.Sprintf("%d.json", i))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
		args = append(args, p)
	}
	cmd := exec.CommandContext(ctx, m.node, args...)
	cmd.Env = append(os.Environ(), append(env, "ASL_TOOLS="+m.dir)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("node %s %s: %w\n%s", filepath.Base(m.script), mode, err, stderr.String())
	}
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), res); err != nil {
		return fmt.Errorf("node %s %s: output %q: %w\n%s", filepath.Base(m.script), mode, stdout.String(), err, stderr.String())
	}
	return nil
}
