// pstest-server: Google's in-memory Pub/Sub fake (cloud.google.com/go/pubsub/v2/pstest) as a standalone
// gRPC server, so the embedded stack can carry fake-gcs-server's object notifications to Lookout's Pub/Sub
// pull subscriber the way real Pub/Sub carries GCS notifications. Clients reach it through
// PUBSUB_EMULATOR_HOST=host:port, like the gcloud emulator (which needs a JVM; this needs nothing).
// State is in memory only: topics and subscriptions are (re)created by `lookout up` on every start.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"cloud.google.com/go/pubsub/v2/pstest"
)

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 8085, "gRPC port")
	flag.Parse()
	srv := pstest.NewServerWithAddress(net.JoinHostPort(*host, fmt.Sprint(*port)))
	log.Printf("pstest: Pub/Sub fake listening on %s", srv.Addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	if err := srv.Close(); err != nil {
		log.Printf("pstest: close: %v", err)
	}
}
