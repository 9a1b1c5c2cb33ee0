package messages

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"
)

// base64Cases reach every branch of decodeBase64: whole quanta, each kind
// of padding, and every way encoding/base64 fails or skips a byte.
var base64Cases = []string{
	"", "QQ==", "QUI=", "QUJD", "QUJDRA==", "QUJDREVG", "QUJDREVGRw==",
	"QR==", "QUJ=", "QUJDRR==", // stray bits, which StdEncoding accepts
	"QQ", "QUI", "QUJDR", "Q", // bad length
	"QQ==QUJD", "QUJD====", "=QUJ", "QU=D", // padding in the wrong place
	"QUJD\nRA==", "QUJD\r\nRA==", "QU\nJDRA==", "QUJDRA=\n=", "\nQUJD", "QUJD\n", // CR and LF
	"QUJD RA==", "QUJ*", "QUJDR-==", "QUJD\x00RA=", "QUJDRA=\xff", // stray bytes
}

// TestDecodeBase64MatchesEncodingBase64 checks the bytes and the error
// against encoding/base64's.
func TestDecodeBase64MatchesEncodingBase64(t *testing.T) {
	for _, s := range base64Cases {
		checkBase64(t, s)
	}
	for n := range 200 {
		raw := make([]byte, n)
		for i := range raw {
			raw[i] = byte(i*37 + n)
		}
		checkBase64(t, base64.StdEncoding.EncodeToString(raw))
	}
}

// FuzzBase64 checks decodeBase64 against encoding/base64 on any text.
func FuzzBase64(f *testing.F) {
	for _, s := range base64Cases {
		f.Add(s)
	}
	f.Fuzz(checkBase64)
}

func checkBase64(t *testing.T, s string) {
	want := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, wantErr := base64.StdEncoding.Decode(want, []byte(s))
	got, err := decodeBase64(make([]byte, base64.StdEncoding.DecodedLen(len(s))), s)
	if wantErr != nil {
		require.ErrorIs(t, err, ErrBadBase64, "%q", s)
		var corrupt base64.CorruptInputError
		require.ErrorAs(t, err, &corrupt, "%q", s)
		require.Equal(t, wantErr, corrupt, "%q", s)
		return
	}
	require.NoError(t, err, "%q", s)
	require.Equal(t, want[:n], got, "%q", s)
}
