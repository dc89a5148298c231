package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"testing"
	"time"

	"github.com/carto-setup/carto-setup/internal/testenv"
)

const (
	testPasswd = "root:x:0:0:root:/root:/bin/sh\nnginx:x:101:101:nginx:/var/cache/nginx:/sbin/nologin\nnode:x:1000:1000::/home/node:/bin/sh\n"
	testGroup  = "root:x:0:\nnginx:x:101:\nnode:x:1000:\nstaff:x:50:\n"
)

func TestResolveUser(t *testing.T) {
	tests := []struct {
		raw      string
		uid, gid int
		wantErr  bool
	}{
		{"", 0, 0, false},
		{"101", 101, 101, false}, // group from passwd
		{"4242", 4242, 0, false}, // no passwd entry: group 0
		{"1000:1000", 1000, 1000, false},
		{"node", 1000, 1000, false},
		{"nginx:staff", 101, 50, false},
		{"node:7", 1000, 7, false},
		{"nobody", 0, 0, true},
		{"node:wheel", 0, 0, true},
	}
	for _, tt := range tests {
		uid, gid, err := ResolveUser(tt.raw, []byte(testPasswd), []byte(testGroup))
		if (err != nil) != tt.wantErr || uid != tt.uid || gid != tt.gid {
			t.Errorf("ResolveUser(%q) = %d, %d, %v; want %d, %d, error %v", tt.raw, uid, gid, err, tt.uid, tt.gid, tt.wantErr)
		}
	}
}

// TestImageUserLive builds images FROM scratch on the real engine, one
// with a numeric USER and one with a name that only the image's own
// /etc/passwd resolves, and reads their users back.
func TestImageUserLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	eng, err := New(ctx)
	if err != nil {
		testenv.Missing(t, "Docker Engine", "install Docker Engine 20.10+ and start it: "+err.Error())
	}
	t.Cleanup(func() { eng.Close() })
	suffix := make([]byte, 4)
	rand.Read(suffix)
	id := hex.EncodeToString(suffix)
	files := map[string]BuildFile{"passwd": {Data: []byte(testPasswd), Mode: 0o644}, "group": {Data: []byte(testGroup), Mode: 0o644}}
	for _, tt := range []struct {
		user     string
		uid, gid int
	}{
		{"101:101", 101, 101},
		{"node", 1000, 1000},
		{"nginx:staff", 101, 50},
	} {
		tag := "carto-setup-imageuser-" + id + ":" + hex.EncodeToString([]byte(tt.user))
		if err := eng.BuildImage(ctx, tag, files, "FROM scratch\nCOPY passwd /etc/passwd\nCOPY group /etc/group\nUSER "+tt.user+"\n", io.Discard); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.RemoveImage(context.Background(), tag) })
		u, present, err := eng.ImageUser(ctx, tag)
		if err != nil || !present || u.Raw != tt.user || u.UID != tt.uid || u.GID != tt.gid {
			t.Errorf("ImageUser(USER %s) = %+v, %v, %v; want %d:%d", tt.user, u, present, err, tt.uid, tt.gid)
		}
	}
	if _, present, err := eng.ImageUser(ctx, "carto-setup-imageuser-"+id+":absent"); err != nil || present {
		t.Errorf("ImageUser of an absent image = present %v, %v; want false, nil", present, err)
	}
	// No container is left behind by the name lookups.
	left, err := eng.LabeledContainers(ctx, "io.carto-setup.purpose", "read-image-user")
	if err != nil || len(left) != 0 {
		t.Errorf("containers left by ImageUser: %v, %v", left, err)
	}
}
