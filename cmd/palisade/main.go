// Command palisade runs the Palisade API server and is a client of it; see
// "palisade --help".
package main

import "github.com/palisade-project/palisade/internal/cli"

func main() { cli.Main() }
