package sshx

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	plain, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	locked, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	good, lockedPath, junk, missing := filepath.Join(dir, "id"), filepath.Join(dir, "locked"), filepath.Join(dir, "junk"), filepath.Join(dir, "missing")
	os.WriteFile(good, pem.EncodeToMemory(plain), 0o600)
	os.WriteFile(lockedPath, pem.EncodeToMemory(locked), 0o600)
	os.WriteFile(junk, []byte("not a key"), 0o600)

	var k KeyFiles
	s, err := k.Signers([]string{missing, lockedPath, good}, false)
	if err != nil || len(s) != 1 {
		t.Fatalf("config identities: %d signers, %v", len(s), err)
	}
	again, _ := k.Signers([]string{good}, true)
	if len(again) != 1 || again[0] != s[0] {
		t.Error("a file loaded twice")
	}
	for _, p := range []string{missing, lockedPath} {
		if _, err := k.Signers([]string{p}, true); err == nil {
			t.Errorf("required %s: no error", filepath.Base(p))
		}
	}
	if _, err := k.Signers([]string{junk}, false); err == nil {
		t.Error("a file that is not a key was skipped")
	}
}
