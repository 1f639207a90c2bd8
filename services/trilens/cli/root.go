// Package cli is the trilens command line: the runner (`trilens up`,
// `trilens --target=...`) and the commands CI uses to submit evidence and gate.
package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes of every command.
const (
	ExitPass   = 0
	ExitBroken = 1 // a budget is broken
	ExitUsage  = 2 // bad usage or an infrastructure error
)

// ExitError carries the exit code a command wants.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode maps an error to the process exit code: ExitError keeps its code,
// anything else is a usage or infrastructure error.
func ExitCode(err error) int {
	if err == nil {
		return ExitPass
	}
	var e *ExitError
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitUsage
}

// NewRoot builds the whole command tree.
func NewRoot() *cobra.Command {
	root := newRunCommand("trilens", "all")
	root.Short = "Trilens turns a code audit into running software"
	root.Long = `Trilens collects evidence through three lenses (performance, security,
scalability), scores every gap against the budgets in trilens.yaml, keeps the
scorecard current and gates CI.

Run without a command, trilens runs the services named by --target (default
all) in one process. "trilens up" does the same with a demo option.`
	root.SilenceUsage = true
	root.SilenceErrors = true
	root.AddCommand(
		newUpCommand(),
		newReadyCommand(),
		newPolicyCommand(),
		newSubmitCommand(),
		newGateCommand(),
		newScanCommand(),
		newSBOMCommand(),
		newDashboardsCommand(),
		newScorecardCommand(),
		newWaiveCommand(),
		newWaiversCommand(),
		newVEXCommand(),
		newAdvisoriesCommand(),
		newComponentsCommand(),
		newReportCommand(),
		newTokenCommand(),
		newDeadLetterCommand(),
		newVerifyLogCommand(),
		newReplayCommand(),
	)
	return root
}

// Main runs the command line and returns the exit code.
func Main(args []string) int {
	root := NewRoot()
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		var e *ExitError
		if !errors.As(err, &e) || e.Err != nil {
			fmt.Fprintln(os.Stderr, "trilens:", err)
		}
	}
	return ExitCode(err)
}
