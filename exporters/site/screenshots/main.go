// Command screenshots takes the README's pictures of the pages for people
// (`make screenshots`): it opens a published folder's catalog and one feed's
// page in headless Chromium at a desktop and a phone width and writes
// catalog-desktop.png, catalog-phone.png, feed-desktop.png and feed-phone.png.
//
//	go run ./exporters/site/screenshots [-feed tracks] [-out docs] DIR
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sqlfeed/sqlfeed/exporters/site/browser"
)

func main() {
	feed := flag.String("feed", "tracks", "the feed whose page to take")
	out := flag.String("out", "docs", "folder to write the PNGs to")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: screenshots [-feed NAME] [-out DIR] PUBLISHED-DIR")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(context.Background(), flag.Arg(0), *feed, *out); err != nil {
		log.Error("screenshots", "error", err.Error())
		os.Exit(1)
	}
}

// shot is one picture: a page at a viewport. Full takes the whole page
// rather than the first screen.
type shot struct {
	name, page    string
	width, height int64
	scale         float64
	mobile, full  bool
}

func run(ctx context.Context, dir, feed, out string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("published folder: %w", err)
	}
	for _, p := range []string{"index.html", feed + "/index.html"} {
		if _, err := os.Stat(filepath.Join(abs, p)); err != nil {
			return fmt.Errorf("published folder: %w (run `go run ./cmd/sqlfeed run` first)", err)
		}
	}
	profile, err := os.MkdirTemp("", "sqlfeed-chromium-")
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer os.RemoveAll(profile)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	bctx, closeBrowser, err := browser.Start(ctx, profile, 1280, 900)
	if err != nil {
		return err
	}
	defer closeBrowser()
	shots := []shot{
		{name: "catalog-desktop.png", page: "index.html", width: 1280, height: 900, scale: 1, full: true},
		{name: "catalog-phone.png", page: "index.html", width: 390, height: 844, scale: 2, mobile: true},
		{name: "feed-desktop.png", page: feed + "/index.html", width: 1280, height: 1400, scale: 1},
		{name: "feed-phone.png", page: feed + "/index.html", width: 390, height: 844, scale: 2, mobile: true},
	}
	for _, s := range shots {
		opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(s.scale)}
		if s.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		err := chromedp.Do(bctx, chromedp.EmulateViewport(s.width, s.height, opts...),
			chromedp.Navigate("file://"+filepath.ToSlash(filepath.Join(abs, s.page))))
		if err != nil {
			return fmt.Errorf("%s: %w", s.page, err)
		}
		if s.full { // grow the viewport to the page
			h, err := chromedp.Run(bctx, chromedp.Evaluate[int64]("document.documentElement.scrollHeight"))
			if err == nil {
				err = chromedp.Do(bctx, chromedp.EmulateViewport(s.width, h, opts...))
			}
			if err != nil {
				return fmt.Errorf("%s: page height: %w", s.page, err)
			}
		}
		png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
		if err != nil {
			return fmt.Errorf("%s: screenshot: %w", s.name, err)
		}
		if err := os.WriteFile(filepath.Join(out, s.name), png, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", s.name, err)
		}
	}
	return nil
}
