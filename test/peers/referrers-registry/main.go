// A registry with the OCI 1.1 referrers API for krill's interop tests: go-containerregistry's
// in-memory registry (pkg/registry) with referrers support switched on. Its own cmd/registry leaves
// the API off. Test tooling only: krill itself is TypeScript.
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// The harness reads the address from the first line of stdout.
	os.Stdout.WriteString(listener.Addr().String() + "\n")
	handler := registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0)))
	log.Fatal(http.Serve(listener, handler))
}
