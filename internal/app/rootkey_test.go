package app_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Restarts of one data directory with and without a root key in the
// environment: the environment's key becomes the root key and revokes the
// previous one; a start without it keeps the last root key (it does not
// go back to an older one); a revoked key is refused as a preset.
func TestRootKeyRotationAcrossRestarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	const k1, s1, k2, s2 = "LTAIrotationkey00000001", "secret1", "LTAIrotationkey00000002", "secret2"
	var generated string
	starts := []struct {
		name, id, secret string
		wantRoot         func() string // the key in credentials.json
		dead             func() []string
		refused          bool
	}{
		{"first start, no env", "", "", nil, nil, false},
		{"env key k1", k1, s1, func() string { return k1 }, func() []string { return []string{generated} }, false},
		{"env key k2", k2, s2, func() string { return k2 }, func() []string { return []string{generated, k1} }, false},
		{"no env: k2 stays", "", "", func() string { return k2 }, func() []string { return []string{generated, k1} }, false},
		{"revoked k1 again", k1, s1, nil, nil, true},
	}
	for _, st := range starts {
		a, err := app.New(app.Options{Listen: "127.0.0.1:0", DataDir: dir, Backend: app.BackendBolt,
			RootAccessKeyID: st.id, RootAccessKeySecret: st.secret, Logger: quiet})
		if st.refused {
			if err == nil {
				a.Close()
				t.Fatalf("%s: started", st.name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		c, err := app.ReadCredentials(dir)
		if err != nil {
			a.Close()
			t.Fatal(err)
		}
		if generated == "" {
			generated = c.AccessKeyID
			// An admin key made through the API, older than the env keys:
			// it is not a root key, so no rotation revokes it, and no
			// start publishes it.
			admin, _ := a.Admin()
			if _, err := a.Service().CreateAccessKey(context.Background(), admin.ID, "", ""); err != nil {
				t.Fatal(err)
			}
		}
		if st.wantRoot != nil && c.AccessKeyID != st.wantRoot() {
			t.Errorf("%s: credentials.json has %s, want %s", st.name, c.AccessKeyID, st.wantRoot())
		}
		svc := a.Service()
		if _, _, err := svc.LookupAccessKey(context.Background(), c.AccessKeyID); err != nil {
			t.Errorf("%s: the published key %s: %v", st.name, c.AccessKeyID, err)
		}
		if st.dead != nil {
			for _, id := range st.dead() {
				if _, _, err := svc.LookupAccessKey(context.Background(), id); err == nil {
					t.Errorf("%s: revoked key %s still valid", st.name, id)
				}
			}
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// Deleting the root key through the API publishes a new one at once
// (credentials.json never holds a dead key when no key is preset).
func TestRootKeyDeletedRepublished(t *testing.T) {
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory))
	out, err := env.Common(t, env.Admin, api.VersionPalisade, "CreateAccessKey", nil)
	if err != nil {
		t.Fatal(err)
	}
	other := apitest.Creds{AccessKeyID: out["AccessKeyId"].(string), Secret: out["AccessKeySecret"].(string)}
	if _, err := env.Common(t, other, api.VersionPalisade, "DeleteAccessKey", map[string]string{"UserAccessKeyId": env.Admin.AccessKeyID}); err != nil {
		t.Fatal(err)
	}
	c, err := app.ReadCredentials(env.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID == env.Admin.AccessKeyID || c.AccessKeyID == other.AccessKeyID {
		t.Fatalf("credentials.json after the root key's deletion: %s", c.AccessKeyID)
	}
	if _, err := env.Common(t, apitest.Creds{AccessKeyID: c.AccessKeyID, Secret: c.AccessKeySecret}, api.VersionPalisade, "DescribeAccounts", nil); err != nil {
		t.Errorf("the new root key: %v", err)
	}
	if _, key := env.App.Admin(); key.ID != c.AccessKeyID {
		t.Errorf("Admin() = %s, credentials.json %s", key.ID, c.AccessKeyID)
	}
}

// A data directory open to other users is tightened to 0700 at start
// (and logged); a private one is left as is.
func TestDataDirTightened(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   os.FileMode // 0: no directory yet
		want   os.FileMode
		logged bool
	}{
		{"new", 0, 0o700, false},
		{"0755", 0o755, 0o700, true},
		{"0750", 0o750, 0o700, true},
		{"0701", 0o701, 0o700, true},
		{"0700", 0o700, 0o700, false},
		// Plainly not Palisade's own (like /tmp): left alone, with a warning.
		{"sticky 1777", os.ModeSticky | 0o777, 0o777, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if tc.mode != 0 {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(dir, tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			var logs syncBuffer
			a, err := app.New(app.Options{Listen: "127.0.0.1:0", DataDir: dir, Backend: app.BackendMemory,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			a.Close()
			fi, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tc.want {
				t.Errorf("mode %v, want %v", fi.Mode().Perm(), tc.want)
			}
			if got := strings.Contains(logs.String(), "mode tightened"); got != tc.logged {
				t.Errorf("logged %v, want %v:\n%s", got, tc.logged, logs.String())
			}
		})
	}
}
