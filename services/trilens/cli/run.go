package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/trilens/trilens/services/trilens"
)

// runFlags are the runner's flags: every service's config plus how to read
// a config file.
type runFlags struct {
	cfg       trilens.Config
	file      string
	expandEnv bool
	verify    bool
	print     bool
	logLevel  string
	goFlags   *flag.FlagSet
	demo      bool
	demoDir   string
}

func (r *runFlags) register(cmd *cobra.Command, target string) {
	r.goFlags = flag.NewFlagSet(cmd.Name(), flag.ContinueOnError)
	r.cfg.RegisterFlags(r.goFlags)
	_ = r.goFlags.Set("target", target)
	r.goFlags.StringVar(&r.file, "config.file", "", "YAML config file; flags given on the command line override it")
	r.goFlags.BoolVar(&r.expandEnv, "config.expand-env", false, "expand ${VAR} in the config file")
	r.goFlags.BoolVar(&r.verify, "config.verify", false, "validate the configuration and exit")
	r.goFlags.BoolVar(&r.print, "config.print", false, "print the effective configuration (secrets redacted) and exit")
	r.goFlags.StringVar(&r.logLevel, "log.level", "info", "debug, info, warn or error")
	cmd.Flags().AddGoFlagSet(r.goFlags)
}

// resolve layers the config: flag defaults, then the YAML file, then the
// flags given on the command line.
func (r *runFlags) resolve(fs *pflag.FlagSet) error {
	if r.file == "" {
		return r.cfg.Validate()
	}
	given := map[string]string{}
	fs.Visit(func(f *pflag.Flag) { given[f.Name] = f.Value.String() })
	if err := r.cfg.LoadYAML(r.file, r.expandEnv); err != nil {
		return err
	}
	for name, v := range given {
		if err := fs.Set(name, v); err != nil {
			return fmt.Errorf("flag --%s: %w", name, err)
		}
	}
	return r.cfg.Validate()
}

func (r *runFlags) logger() *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(r.logLevel))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func newRunCommand(use, target string) *cobra.Command {
	r := &runFlags{}
	cmd := &cobra.Command{
		Use:  use,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return r.run(cmd) },
	}
	r.register(cmd, target)
	return cmd
}

func newUpCommand() *cobra.Command {
	r := &runFlags{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the whole stack in one process on embedded defaults",
		Long: `up runs every service in one process: an embedded NATS server with
JetStream, the scorer, the collectors, and a private ClickHouse when none
answers at --store.dsn (Debian's clickhouse-server; "make deps" installs it).

With --demo it then feeds demo evidence through the pipeline, sends three
minutes of a demo shop's production traces through the OTLP endpoints, waits
until it is scored, and prints what was stored and where to look. The demo's
alerts go to a receiver it runs on loopback (listed on the page), never to the
policy's receivers, and its trace windows close 15 s after their end.`,
		Example: "  trilens up --demo\n  trilens up --store.dsn=clickhouse://db:9000 --bus.url=nats://nats:4222",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return r.run(cmd) },
	}
	r.register(cmd, "all")
	cmd.Flags().BoolVar(&r.demo, "demo", false, "feed demo evidence once the stack is up and print a summary")
	cmd.Flags().StringVar(&r.demoDir, "demo.dir", ".", "Trilens source tree the demo evidence (test fixtures) is read from")
	return cmd
}

func (r *runFlags) run(cmd *cobra.Command) error {
	if r.demo {
		if err := applyDemoSettings(r.goFlags, cmd.Flags().Changed); err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
	}
	if err := r.resolve(cmd.Flags()); err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("configuration: %w", err)}
	}
	if r.print {
		fmt.Fprint(cmd.OutOrStdout(), r.cfg.Redacted())
		return nil
	}
	if r.verify {
		fmt.Fprintln(cmd.OutOrStdout(), "configuration is valid")
		return nil
	}
	log := r.logger()
	app, err := trilens.NewApp(r.cfg, log)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if r.demo {
		_, stopInbox, err := startDemoInbox(app)
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
		defer stopInbox()
	}
	if err := app.Start(ctx); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	if r.demo {
		if err := runDemo(ctx, cmd.OutOrStdout(), app, r.demoDir); err != nil {
			log.Error("demo failed", "err", err)
			_ = app.Stop(context.Background())
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("demo: %w", err)}
		}
	}
	<-ctx.Done()
	log.Info("shutting down")
	return app.Stop(context.Background())
}
