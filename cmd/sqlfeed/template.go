package main

import (
	"fmt"
	"os"

	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/samtemplate"
)

// checkTemplate checks the SAM template at path against the feeds of cfg:
// one schedule per feed with the same expression, no schedule for a missing
// feed, and the template's security properties.
func checkTemplate(cfg *config.File, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("template: %w", err)
	}
	feeds := make(map[string]string, len(cfg.Feeds))
	for _, f := range cfg.Feeds {
		feeds[f.Name] = f.Schedule
	}
	if err := samtemplate.CheckSchedules(b, feeds); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := samtemplate.CheckSecurity(b); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
