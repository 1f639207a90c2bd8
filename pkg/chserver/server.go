// Package chserver runs a private clickhouse-server process: tests start one
// per package on free ports in a temp dir, and `trilens up` starts one with a
// persistent directory. It needs no Docker, only the server binary (Debian's
// clickhouse-server 18.16 or any later release).
package chserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// ErrNotFound is returned by Start when no clickhouse-server binary exists.
var ErrNotFound = errors.New("clickhouse-server not found: run `make deps` (installs Debian's clickhouse-server)")

// Options say where and how to run the server.
type Options struct {
	// Dir holds the config, data and logs; a new temp dir when empty (removed by Close).
	Dir string
	// TCPPort (native protocol) and HTTPPort; 0 picks free ones.
	TCPPort, HTTPPort int
	// StartTimeout bounds the wait for the first successful ping (default 60s).
	StartTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL (default 30s).
	StopTimeout time.Duration
	Logger      *slog.Logger
	// Cluster, when set, starts the server as a replica of that cluster
	// (its interserver port, for replication fetches, is picked free).
	Cluster *Cluster
}

// Server is one running (or stopped) clickhouse-server process.
type Server struct {
	bin      string
	dir      string
	ownDir   bool
	tcpPort  int
	httpPort int
	// interserverPort serves replication fetches (Cluster only).
	interserverPort int
	opts            Options
	log             *slog.Logger

	mu   sync.Mutex
	proc *process // nil when stopped
}

// process is one run of the binary; done closes when it has exited.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // exit status, valid after done
	// logStart is where each log file ended before this run, so an early
	// exit is explained by this run's lines only (a persistent Dir keeps logs).
	logStart map[string]int64
}

// portAttempts bounds the retries when a picked free port is taken before the
// server binds it (picking by bind-and-close is racy).
const portAttempts = 5

// Start starts clickhouse-server and returns once it answers a native ping.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := findBinary()
	if err != nil {
		return nil, err
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{bin: bin, dir: opts.Dir, opts: opts, log: opts.Logger}
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp("", "chserver-"); err != nil {
			return nil, err
		}
		s.ownDir = true
	}
	if s.dir, err = filepath.Abs(s.dir); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		s.tcpPort, s.httpPort, s.interserverPort = opts.TCPPort, opts.HTTPPort, 0
		if err = s.pickPorts(); err != nil {
			break
		}
		err = s.start(ctx)
		var inUse *addrInUseError
		if err == nil || !errors.As(err, &inUse) || attempt == portAttempts ||
			inUse.port == 0 || inUse.port == opts.TCPPort || inUse.port == opts.HTTPPort {
			break // only a port we picked is worth picking again
		}
		s.log.Debug("clickhouse port taken, retrying with new ports", "port", inUse.port)
	}
	if err != nil {
		if s.ownDir {
			os.RemoveAll(s.dir)
		}
		return nil, err
	}
	return s, nil
}

// debianBinary is where Debian's package installs the server; /usr/sbin is
// often missing from a user's PATH.
var debianBinary = "/usr/sbin/clickhouse-server"

func findBinary() (string, error) {
	if p, err := exec.LookPath("clickhouse-server"); err == nil {
		return p, nil
	}
	if _, err := os.Stat(debianBinary); err == nil {
		return debianBinary, nil
	}
	return "", ErrNotFound
}

func (s *Server) pickPorts() error {
	ports := []*int{&s.tcpPort, &s.httpPort}
	if s.opts.Cluster != nil {
		ports = append(ports, &s.interserverPort)
	}
	for _, p := range ports {
		if *p != 0 {
			continue
		}
		port, err := freePort()
		if err != nil {
			return fmt.Errorf("pick a free port: %w", err)
		}
		*p = port
	}
	return nil
}

// freePort asks the kernel for a free port; another process may take it
// before the server binds it, hence the retries in Start.
var freePort = func() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// addrInUseError: the server could not bind port (0 when the log does not say).
type addrInUseError struct {
	port int
	err  error
}

func (e *addrInUseError) Error() string { return e.err.Error() }
func (e *addrInUseError) Unwrap() error { return e.err }

var addrInUseRE = regexp.MustCompile(`Address already in use: [^\s]*:(\d+)`)

// start writes the config, launches the process and waits for a ping.
func (s *Server) start(ctx context.Context) error {
	if err := writeConfig(s.dir, s.tcpPort, s.httpPort, s.interserverPort, s.opts.Cluster); err != nil {
		return fmt.Errorf("clickhouse config: %w", err)
	}
	out, err := os.OpenFile(filepath.Join(s.dir, "log", "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close() // the child holds its own copy
	cmd := exec.Command(s.bin, "--config-file="+filepath.Join(s.dir, "config.xml"))
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group: a terminal's Ctrl-C reaches our runner only, which
	// stops the server in order. Pdeathsig kills it if we die without Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &process{cmd: cmd, done: make(chan struct{}), logStart: map[string]int64{}}
	for _, name := range logNames {
		if fi, err := os.Stat(filepath.Join(s.dir, "log", name)); err == nil {
			p.logStart[name] = fi.Size()
		}
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()

	if err := s.waitReady(ctx, p); err != nil {
		s.Stop(context.Background())
		return err
	}
	s.log.Info("clickhouse started", "dsn", s.DSN(), "dir", s.dir, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (s *Server) waitReady(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.StartTimeout)
	defer cancel()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:         []string{s.addr()},
		DialTimeout:  time.Second,
		MaxOpenConns: 1,
	})
	if err != nil {
		return err
	}
	defer conn.Close()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		err := conn.Ping(pctx)
		pcancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return s.exitError(p)
		case <-ctx.Done():
			return fmt.Errorf("clickhouse-server on %s not ready after %s (last ping: %v); logs in %s",
				s.addr(), s.opts.StartTimeout, err, filepath.Join(s.dir, "log"))
		case <-tick.C:
		}
	}
}

var logNames = []string{"err.log", "stdout.log"}

// exitError explains an early exit from what this run wrote to the logs.
func (s *Server) exitError(p *process) error {
	var tail []byte
	for _, name := range logNames {
		b, _ := os.ReadFile(filepath.Join(s.dir, "log", name))
		b = b[min(p.logStart[name], int64(len(b))):]
		if len(b) > 2000 {
			b = b[len(b)-2000:]
		}
		tail = append(tail, b...)
	}
	err := fmt.Errorf("clickhouse-server exited (%v): %s", p.err, bytes.TrimSpace(tail))
	if m := addrInUseRE.FindAllSubmatch(tail, -1); m != nil {
		port, _ := strconv.Atoi(string(m[len(m)-1][1]))
		return &addrInUseError{port: port, err: err}
	}
	return err
}

func (s *Server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.tcpPort) }

// DSN is the native-protocol address of the server.
func (s *Server) DSN() string { return "clickhouse://" + s.addr() }

// Pid is the server process's id, 0 while it is stopped: benchmarks read
// the CPU time it used from /proc.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// TCPPort is the native-protocol port.
func (s *Server) TCPPort() int { return s.tcpPort }

// HTTPPort is the HTTP interface port.
func (s *Server) HTTPPort() int { return s.httpPort }

// Dir holds the server's config, data and logs.
func (s *Server) Dir() string { return s.dir }

// Stop sends SIGTERM to the server's process group and SIGKILL when it has not
// exited after StopTimeout or when ctx ends. The data stays, so Restart can
// start it again. Stopping a stopped server does nothing.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	timer := time.NewTimer(s.opts.StopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		s.log.Info("clickhouse stopped", "dsn", s.DSN())
		return nil
	case <-timer.C:
	case <-ctx.Done():
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
	s.log.Warn("clickhouse killed after SIGTERM timeout", "dsn", s.DSN())
	return nil
}

// Restart stops the server when it runs and starts it again on the same
// ports and data.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(ctx); err != nil {
		return err
	}
	return s.start(ctx)
}

// Close stops the server and removes its directory when Start created it.
func (s *Server) Close(ctx context.Context) error {
	err := s.Stop(ctx)
	if s.ownDir {
		err = errors.Join(err, os.RemoveAll(s.dir))
	}
	return err
}
