package compose

import "testing"

func TestProcessSubcommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args    []string
		sub     string
		changes bool
	}{
		{[]string{"docker-compose", "-p", "carto", "-f", "docker-compose.yml", "up", "-d", "--remove-orphans"}, "up", true},
		{[]string{"/usr/bin/python3", "/usr/bin/docker-compose", "--project-name", "carto", "logs", "-f"}, "logs", false},
		{[]string{"docker", "compose", "-pcarto", "--project-directory", "/opt/carto", "down"}, "down", true},
		{[]string{"docker-compose", "compose", "--ansi", "never", "ps"}, "ps", false},
		{[]string{"docker-compose", "-p", "carto"}, "", true},
		{[]string{"sleep", "10"}, "", true},
	} {
		p := Process{Args: tc.args}
		if got := p.Subcommand(); got != tc.sub {
			t.Errorf("%q: subcommand %q, want %q", tc.args, got, tc.sub)
		}
		if got := p.Changes(); got != tc.changes {
			t.Errorf("%q: changes %v, want %v", tc.args, got, tc.changes)
		}
	}
}
