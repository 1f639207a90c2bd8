// Command trilens is the Trilens CLI and the all-in-one runner.
package main

import (
	"os"

	"github.com/trilens/trilens/services/trilens/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
