package sshx

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/crypto/ssh"
)

// KeyFiles loads private keys for many targets, each file once. Not safe
// for concurrent use (build targets in one goroutine).
type KeyFiles struct {
	m map[string]keyFile
}

type keyFile struct {
	signer ssh.Signer // nil: skipped
	err    error
}

// Signers loads the keys at paths (expanded: Dest.IdentityFiles). A file
// that is missing, or needs a passphrase (the agent should hold it), is
// skipped as ssh(1) does for IdentityFile, unless required (a key named by
// ansible_ssh_private_key_file or --private-key): then it is an error, as
// is a file that is not a key.
func (k *KeyFiles) Signers(paths []string, required bool) ([]ssh.Signer, error) {
	if k.m == nil {
		k.m = map[string]keyFile{}
	}
	var out []ssh.Signer
	for _, p := range paths {
		kf, ok := k.m[p]
		if !ok {
			kf = loadKeyFile(p)
			k.m[p] = kf
		}
		if kf.err != nil {
			var pe *ssh.PassphraseMissingError
			if required || !errors.Is(kf.err, os.ErrNotExist) && !errors.As(kf.err, &pe) {
				return nil, fmt.Errorf("private key %s: %w", p, kf.err)
			}
			continue
		}
		out = append(out, kf.signer)
	}
	return out, nil
}

func loadKeyFile(p string) keyFile {
	b, err := os.ReadFile(p)
	if err != nil {
		return keyFile{err: err}
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return keyFile{err: err}
	}
	return keyFile{signer: s}
}
