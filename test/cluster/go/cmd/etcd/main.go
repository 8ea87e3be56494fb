// Command etcd runs a single-member etcd server for local test clusters.
//
// It accepts the subset of the upstream etcd flags that the test control
// plane uses, listens only where it is told to, and shuts down cleanly on
// SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func parseURLs(flagName, value string) []url.URL {
	var out []url.URL
	for _, s := range strings.Split(value, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil {
			fmt.Fprintf(os.Stderr, "etcd: invalid --%s value %q: %v\n", flagName, s, err)
			os.Exit(2)
		}
		out = append(out, *u)
	}
	return out
}

func main() {
	name := flag.String("name", "default", "member name")
	dataDir := flag.String("data-dir", "", "directory for the member's data (required)")
	listenClient := flag.String("listen-client-urls", "http://127.0.0.1:2379", "comma-separated URLs to serve clients on")
	advertiseClient := flag.String("advertise-client-urls", "", "comma-separated client URLs advertised to the cluster (default: --listen-client-urls)")
	listenPeer := flag.String("listen-peer-urls", "http://127.0.0.1:2380", "comma-separated URLs to serve peers on")
	advertisePeer := flag.String("initial-advertise-peer-urls", "", "comma-separated peer URLs advertised to the cluster (default: --listen-peer-urls)")
	logLevel := flag.String("log-level", "warn", "debug, info, warn, error, panic or fatal")
	quotaBytes := flag.Int64("quota-backend-bytes", 0, "backend size limit in bytes (0: etcd's default)")
	unsafeNoFsync := flag.Bool("unsafe-no-fsync", false, "skip fsync; faster, loses data on a crash (fine for throw-away test data)")
	flag.Parse()

	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "etcd: --data-dir is required")
		os.Exit(2)
	}
	if *advertiseClient == "" {
		*advertiseClient = *listenClient
	}
	if *advertisePeer == "" {
		*advertisePeer = *listenPeer
	}

	cfg := embed.NewConfig()
	cfg.Name = *name
	cfg.Dir = *dataDir
	cfg.ListenClientUrls = parseURLs("listen-client-urls", *listenClient)
	cfg.AdvertiseClientUrls = parseURLs("advertise-client-urls", *advertiseClient)
	cfg.ListenPeerUrls = parseURLs("listen-peer-urls", *listenPeer)
	cfg.AdvertisePeerUrls = parseURLs("initial-advertise-peer-urls", *advertisePeer)
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = *logLevel
	cfg.QuotaBackendBytes = *quotaBytes
	cfg.UnsafeNoFsync = *unsafeNoFsync
	// NewConfig leaves this at zero, which logs every request as slow.
	cfg.WarningUnaryRequestDuration = embed.DefaultWarningUnaryRequestDuration

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd: start: %v\n", err)
		os.Exit(1)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	select {
	case <-e.Server.ReadyNotify():
		for _, l := range e.Clients {
			fmt.Printf("etcd: ready, serving clients on %s\n", l.Addr())
		}
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		fmt.Fprintln(os.Stderr, "etcd: server took too long to become ready")
		os.Exit(1)
	case s := <-sigs:
		fmt.Printf("etcd: received %v before ready, stopping\n", s)
		e.Close()
		os.Exit(0)
	}

	select {
	case s := <-sigs:
		fmt.Printf("etcd: received %v, stopping\n", s)
		e.Close()
		fmt.Println("etcd: stopped")
	case err := <-e.Err():
		fmt.Fprintf(os.Stderr, "etcd: server error: %v\n", err)
		e.Close()
		os.Exit(1)
	}
}
