package messages

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vector is one SocketScience frame made by SmokeDetector's Python msgpack.
type vector struct {
	Name    string          `json:"name"`
	Content string          `json:"content"`
	Payload json.RawMessage `json:"payload"`
}

func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	data, err := os.ReadFile("testdata/smokey-vectors.json")
	require.NoError(tb, err)
	var file struct {
		Vectors []vector `json:"vectors"`
	}
	require.NoError(tb, json.Unmarshal(data, &file))
	require.NotEmpty(tb, file.Vectors)
	return file.Vectors
}

// jsonPayload turns a vector's JSON payload into the Go values that encode
// as Python encoded them: a number with a "." or exponent is a float (as
// Python's json writes floats), others ints; {"$bytes": b64} is a []byte.
func jsonPayload(tb testing.TB, raw json.RawMessage) Payload {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v map[string]any
	require.NoError(tb, dec.Decode(&v))
	return Payload(fromJSON(tb, v).(map[string]any))
}

func fromJSON(tb testing.TB, v any) any {
	switch v := v.(type) {
	case json.Number:
		s := v.String()
		if strings.ContainsAny(s, ".eE") {
			f, err := strconv.ParseFloat(s, 64)
			require.NoError(tb, err)
			return f
		}
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
		u, err := strconv.ParseUint(s, 10, 64)
		require.NoError(tb, err)
		return u
	case map[string]any:
		if b, ok := v["$bytes"].(string); ok && len(v) == 1 {
			data, err := base64.StdEncoding.DecodeString(b)
			require.NoError(tb, err)
			return data
		}
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = fromJSON(tb, e)
		}
		return m
	case []any:
		a := make([]any, len(v))
		for i, e := range v {
			a[i] = fromJSON(tb, e)
		}
		return a
	default:
		return v
	}
}

// canon maps a decoded value to a canonical form for comparison: every
// integer type becomes "int:<decimal>", floats "float:<shortest>" (so NaN
// equals NaN and -0 differs from 0), times a UTC string, maps map[string]any.
func canon(v any) any {
	switch v := v.(type) {
	case int:
		return "int:" + strconv.FormatInt(int64(v), 10)
	case int8:
		return "int:" + strconv.FormatInt(int64(v), 10)
	case int16:
		return "int:" + strconv.FormatInt(int64(v), 10)
	case int32:
		return "int:" + strconv.FormatInt(int64(v), 10)
	case int64:
		return "int:" + strconv.FormatInt(v, 10)
	case uint8:
		return "int:" + strconv.FormatUint(uint64(v), 10)
	case uint16:
		return "int:" + strconv.FormatUint(uint64(v), 10)
	case uint32:
		return "int:" + strconv.FormatUint(uint64(v), 10)
	case uint64:
		return "int:" + strconv.FormatUint(v, 10)
	case float32:
		return canon(float64(v))
	case float64:
		if math.IsNaN(v) {
			return "float:NaN"
		}
		return "float:" + strconv.FormatFloat(v, 'g', -1, 64)
	case string:
		return "str:" + v
	case []byte:
		return "bin:" + base64.StdEncoding.EncodeToString(v)
	case time.Time:
		return "time:" + v.UTC().Format(time.RFC3339Nano)
	case Payload:
		return canon(map[string]any(v))
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = canon(e)
		}
		return m
	case []any:
		a := make([]any, len(v))
		for i, e := range v {
			a[i] = canon(e)
		}
		return a
	default:
		return v // nil, bool
	}
}

// jsonKeyOrder returns the top-level keys of a JSON object in order; the
// vectors were written from Python dicts, which keep the wire order.
func jsonKeyOrder(tb testing.TB, raw json.RawMessage) []string {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	require.NoError(tb, err)
	require.Equal(tb, json.Delim('{'), tok)
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(tb, err)
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		require.NoError(tb, dec.Decode(&skip))
	}
	return keys
}

// frameBytes returns a frame's decoded msgpack and its base64 body.
func frameBytes(tb testing.TB, content string) ([]byte, string) {
	tb.Helper()
	body, err := frameBody(content, &Limits{})
	require.NoError(tb, err)
	b, err := base64.StdEncoding.DecodeString(body)
	require.NoError(tb, err)
	return b, body
}

// keysSorted reports whether every map in the msgpack value at b[off:]
// lists its keys in sorted order, and returns the offset past the value.
func keysSorted(tb testing.TB, b []byte, off int) (bool, int) {
	h, next, err := readHead(b, off)
	require.NoError(tb, err)
	switch h.kind {
	case kMap:
		sorted, prev := true, ""
		for i := range h.n {
			var k []byte
			k, next, err = readKey(b, next)
			require.NoError(tb, err)
			if i > 0 && string(k) <= prev {
				sorted = false
			}
			prev = string(k)
			var ok bool
			ok, next = keysSorted(tb, b, next)
			sorted = sorted && ok
		}
		return sorted, next
	case kArray:
		sorted := true
		for range h.n {
			var ok bool
			ok, next = keysSorted(tb, b, next)
			sorted = sorted && ok
		}
		return sorted, next
	default:
		end, err := skipValue(b, off, 1)
		require.NoError(tb, err)
		return true, end
	}
}

// scalarLeaves returns the raw bytes of every scalar in the msgpack value
// at b[off:] (map keys included), and the offset past the value.
func scalarLeaves(tb testing.TB, b []byte, off int, out [][]byte) ([][]byte, int) {
	h, next, err := readHead(b, off)
	require.NoError(tb, err)
	switch h.kind {
	case kMap:
		for range h.n * 2 {
			out, next = scalarLeaves(tb, b, next, out)
		}
		return out, next
	case kArray:
		for range h.n {
			out, next = scalarLeaves(tb, b, next, out)
		}
		return out, next
	default:
		end, err := skipValue(b, off, 1)
		require.NoError(tb, err)
		return append(out, b[off:end]), end
	}
}

func TestVectorsDecode(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			want := jsonPayload(t, v.Payload)
			got, err := DecodeFrame(v.Content)
			require.NoError(t, err)
			assert.Equal(t, canon(want), canon(got))
		})
	}
}

func TestVectorsSplit(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			want := jsonPayload(t, v.Payload)
			f, err := Split(v.Content)
			require.NoError(t, err)
			assert.Nil(t, f.Envelope)
			var types []string
			for _, rt := range f.Types {
				types = append(types, rt.Type)
				assert.Equal(t, len(rt.Data), cap(rt.Data), "Data must be capped")
				got, end, err := decodeValue(rt.Data, 0, 2)
				require.NoError(t, err)
				assert.Equal(t, len(rt.Data), end)
				assert.Equal(t, canon(want[rt.Type]), canon(got), rt.Type)

				var loose any
				require.NoError(t, Message{Type: rt.Type, Data: rt.Data}.Decode(&loose))
			}
			assert.Equal(t, jsonKeyOrder(t, v.Payload), types)
		})
	}
}

func TestVectorsEncode(t *testing.T) {
	exact := 0
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			want := jsonPayload(t, v.Payload)
			content, err := Encode(want)
			require.NoError(t, err)
			checkFrameText(t, content)
			got, err := DecodeFrame(content)
			require.NoError(t, err)
			assert.Equal(t, canon(want), canon(got))

			// Where Python's key order is the sorted order we write, the
			// bytes must be Python's exactly.
			pyRaw, pyBody := frameBytes(t, v.Content)
			sorted, end := keysSorted(t, pyRaw, 0)
			require.Equal(t, len(pyRaw), end)
			if sorted {
				exact++
				_, body := frameBytes(t, content)
				assert.Equal(t, pyBody, body)
			}

			// Everywhere, each scalar must encode as Python encoded it:
			// compact ints, float64, str, bin.
			leaves, _ := scalarLeaves(t, pyRaw, 0, nil)
			for _, leaf := range leaves {
				val, _, err := decodeValue(leaf, 0, 1)
				require.NoError(t, err)
				s := getEncoder()
				require.NoError(t, s.enc.Encode(val))
				assert.Equal(t, leaf, slices.Clone(s.buf.Bytes()), "%#v", val)
				putEncoder(s)
			}
		})
	}
	assert.GreaterOrEqual(t, exact, 5, "too few vectors compared byte for byte")
}

// checkFrameText checks the framing Encode produces.
func checkFrameText(t *testing.T, content string) {
	t.Helper()
	require.True(t, strings.HasPrefix(content, FramePrefix), "%q", content)
	require.Equal(t, byte('\x03'), content[len(content)-1])
	for _, c := range content[3:7] {
		require.True(t, c >= '0' && c <= '9', "%q", content)
	}
	_, err := base64.StdEncoding.DecodeString(content[7 : len(content)-1])
	require.NoError(t, err)
}
