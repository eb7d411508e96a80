// Command skyrisk-ferretdb runs FerretDB embedded with its SQLite handler: a
// MongoDB-wire-compatible server with no external database, for machines
// where mongod cannot be installed. The upstream command panics when built with
// `go install` (missing version.txt), the embeddable package does not.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// walSizeLimit is the size, in bytes, the write-ahead log is truncated to when it restarts.
const walSizeLimit = 16 << 20

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dataDir := flag.String("data-dir", "data/ferretdb", "directory holding the SQLite databases")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "bad -log-level %q: %v\n", *logLevel, err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	absDir, err := filepath.Abs(*dataDir)
	if err != nil {
		logger.Error("data dir", "error", err)
		os.Exit(1)
	}
	if err := os.MkdirAll(absDir, 0o755); err != nil {
		logger.Error("cannot create data dir", "dir", absDir, "error", err)
		os.Exit(1)
	}

	server, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		// The write-ahead log is cut back to walSizeLimit whenever SQLite restarts it (which the
		// patched updates let it do), so a burst's log does not keep its disk for good.
		SQLiteURL: fmt.Sprintf("file:%s/?_pragma=journal_size_limit(%d)", absDir, walSizeLimit),
	})
	if err != nil {
		logger.Error("cannot start FerretDB", "listen", *listen, "error", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	logger.Warn("FerretDB (SQLite) listening", "uri", server.MongoDBURI(), "data", absDir)
	if err := server.Run(ctx); err != nil {
		logger.Error("FerretDB stopped", "error", err)
		os.Exit(1)
	}
}
