package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/trilens/trilens/pkg/bus"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// deadLetterOptions are the flags every deadletter command shares.
type deadLetterOptions struct {
	url      string
	consumer string
	format   string
}

func (o *deadLetterOptions) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&o.url, "nats-url", "nats://127.0.0.1:4222", "NATS server holding the dead-letter stream")
	cmd.PersistentFlags().StringVar(&o.consumer, "consumer", "", "only the dead letters of this consumer (for example scorer)")
	cmd.PersistentFlags().StringVar(&o.format, "format", "table", "output: table or json")
}

func (o *deadLetterOptions) connect(ctx context.Context) (*bus.Bus, error) {
	if !slices.Contains([]string{"table", "json"}, o.format) {
		return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--format %q: want table or json", o.format)}
	}
	cfg := bus.DefaultConfig()
	cfg.URL = o.url
	b, err := bus.Connect(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	return b, nil
}

// newDeadLetterCommand is `trilens deadletter list|show|replay`.
func newDeadLetterCommand() *cobra.Command {
	var o deadLetterOptions
	cmd := &cobra.Command{
		Use:   "deadletter",
		Short: "Inspect and replay the messages a consumer gave up on",
		Long: `deadletter reads the dead-letter stream: every message a consumer could not
decode or kept failing on, with the reason, the consumer, the subject it was
published on and its deliveries. After the cause is fixed (a column added,
a policy corrected), replay publishes it again on its original subject and
removes it from the dead-letter stream.`,
		Example: `  trilens deadletter list --consumer scorer
  trilens deadletter show 42
  trilens deadletter replay 42 43
  trilens deadletter replay --all --consumer scorer`,
	}
	o.register(cmd)
	cmd.AddCommand(newDeadLetterList(&o), newDeadLetterShow(&o), newDeadLetterReplay(&o))
	return cmd
}

func newDeadLetterList(o *deadLetterOptions) *cobra.Command {
	var from uint64
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List dead letters, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer b.Close()
			dls, err := b.DeadLetters(cmd.Context(), o.consumer, from, limit)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if o.format == "json" {
				return writeJSON(out, dls)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SEQ\tAT\tCONSUMER\tSUBJECT\tEVENT\tDELIVERIES\tREASON")
			for _, d := range dls {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", d.Sequence, d.At.UTC().Format(time.RFC3339), d.Consumer, d.Subject,
					d.EventID, d.Deliveries, d.Reason)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().Uint64Var(&from, "from", 1, "first dead-letter sequence to list")
	cmd.Flags().IntVar(&limit, "limit", 100, "most dead letters to list")
	return cmd
}

func newDeadLetterShow(o *deadLetterOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "show SEQ",
		Short: "Show one dead letter: headers, reason and the event it holds",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := parseSeq(args[0])
			if err != nil {
				return err
			}
			b, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer b.Close()
			d, err := b.DeadLetterAt(cmd.Context(), seq)
			if err != nil {
				return err
			}
			return writeDeadLetter(cmd.OutOrStdout(), o.format, d)
		},
	}
}

// writeDeadLetter prints a dead letter and, when its body decodes, the event.
func writeDeadLetter(out io.Writer, format string, d bus.DeadLetter) error {
	ev := &eventv1.Event{}
	var event json.RawMessage
	if err := proto.Unmarshal(d.Data, ev); err == nil && len(d.Data) > 0 {
		if js, err := protojson.Marshal(ev); err == nil {
			event = js
		}
	}
	if format == "json" {
		return writeJSON(out, struct {
			bus.DeadLetter
			Event json.RawMessage `json:"event,omitempty"`
			Bytes int             `json:"bytes"`
		}{d, event, len(d.Data)})
	}
	fmt.Fprintf(out, "sequence:   %d\nat:         %s\nconsumer:   %s\nsubject:    %s\nevent:      %s\ndeliveries: %d\nreason:     %s\nbytes:      %d\nheaders:\n",
		d.Sequence, d.At.UTC().Format(time.RFC3339), d.Consumer, d.Subject, d.EventID, d.Deliveries, d.Reason, len(d.Data))
	keys := make([]string, 0, len(d.Header))
	for k := range d.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(out, "  %s: %s\n", k, d.Header.Get(k))
	}
	if event != nil {
		fmt.Fprintf(out, "body:\n%s\n", event)
	} else if d.Header.Get(bus.HeaderClaimCheck) != "" {
		fmt.Fprintf(out, "body: in the object store, claim check %s\n", d.Header.Get(bus.HeaderClaimCheck))
	} else {
		fmt.Fprintln(out, "body: not a Trilens event")
	}
	return nil
}

func newDeadLetterReplay(o *deadLetterOptions) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "replay [SEQ...]",
		Short: "Publish dead letters again on their original subject, then remove them",
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return &ExitError{Code: ExitUsage, Err: errors.New("give dead-letter sequences or --all, not both")}
			}
			seqs := make([]uint64, 0, len(args))
			for _, a := range args {
				seq, err := parseSeq(a)
				if err != nil {
					return err
				}
				seqs = append(seqs, seq)
			}
			b, err := o.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer b.Close()
			if all {
				for from := uint64(1); ; {
					dls, err := b.DeadLetters(cmd.Context(), o.consumer, from, 1000)
					if err != nil {
						return err
					}
					if len(dls) == 0 {
						break
					}
					for _, d := range dls {
						seqs = append(seqs, d.Sequence)
					}
					from = dls[len(dls)-1].Sequence + 1
				}
			}
			out := cmd.OutOrStdout()
			for _, seq := range seqs {
				d, err := b.Replay(cmd.Context(), seq)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "replayed %d: event %s to %s\n", seq, d.EventID, d.Subject)
			}
			fmt.Fprintf(out, "%d dead letters replayed\n", len(seqs))
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "replay every dead letter (of --consumer when given)")
	return cmd
}

func parseSeq(s string) (uint64, error) {
	seq, err := strconv.ParseUint(s, 10, 64)
	if err != nil || seq == 0 {
		return 0, &ExitError{Code: ExitUsage, Err: fmt.Errorf("%q: want a dead-letter sequence number (see trilens deadletter list)", s)}
	}
	return seq, nil
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
