package report

import (
	"testing"
)

func TestProtocolDetection(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		proto protocol
		want  string // the prediction, as compact JSON
	}{
		{"KServe V1 labels", `{"predictions":[1,0,1]}`, protoV1, `[1,0,1]`},
		{"TF Serving V1 with NaN", `{"predictions":[[0.1,NaN]]}`, protoV1, `[[0.1,"NaN"]]`},
		{"OIP V2 flat", `{"model_name":"m","outputs":[{"name":"o","shape":[3],"datatype":"INT64","data":[1,0,1]}]}`, protoOIP, `[1,0,1]`},
		{"OIP V2 probabilities reshaped", `{"outputs":[{"name":"p","shape":[2,2],"datatype":"FP32","data":[0.9,0.1,0.3,0.7]}]}`, protoOIP, `[[0.9,0.1],[0.3,0.7]]`},
		{"OIP V2 two outputs", `{"outputs":[{"data":[1]},{"data":[2]}]}`, protoOIP, `[[1],[2]]`},
		{"OpenAI chat", `{"id":"c1","choices":[{"index":0,"message":{"role":"assistant","content":"yes"}}]}`, protoChat, `["yes"]`},
		{"OpenAI completions", `{"choices":[{"text":"a"},{"text":"b"}]}`, protoCompletions, `["a","b"]`},
		{"OpenAI embeddings", `{"object":"list","data":[{"embedding":[0.1,0.2]},{"embedding":[0.3,0.4]}]}`, protoEmbeddings, `[[0.1,0.2],[0.3,0.4]]`},
		{"other object", `{"label":"cat"}`, protoWhole, `{"label":"cat"}`},
		{"bare array", `[1,2]`, protoWhole, `[1,2]`},
	}
	for _, c := range cases {
		body := mustDecode(t, c.body)
		p := detectProtocol(body)
		if p != c.proto {
			t.Errorf("%s: detected %s, want %s", c.name, protoNames[p], protoNames[c.proto])
			continue
		}
		e, err := newExtractor(p, "")
		if err != nil {
			t.Fatal(err)
		}
		got, ok := e.extract(body)
		if !ok || compactFull(got) != c.want {
			t.Errorf("%s: prediction = %s (%v), want %s", c.name, compactFull(got), ok, c.want)
		}
	}
}

func TestFieldFlag(t *testing.T) {
	body := mustDecode(t, `{"outputs":[{"data":[5,6]},{"data":[7]}],"x":{"y":3}}`)
	cases := []struct {
		field string
		want  string
		ok    bool
	}{
		{"$.outputs[0].data", `[5,6]`, true},       // singular: the node itself
		{"$.outputs[*].data", `[[5,6],[7]]`, true}, // a list of nodes
		{"$.x.y", `3`, true},
		{"$.nothing", ``, false},
	}
	for _, c := range cases {
		e, err := newExtractor(protoFlag, c.field)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := e.extract(body)
		if ok != c.ok || (ok && compactFull(got) != c.want) {
			t.Errorf("--field %s = %s %v, want %s %v", c.field, compactFull(got), ok, c.want, c.ok)
		}
	}
	if _, err := newExtractor(protoFlag, "predictions["); err == nil {
		t.Error("a bad --field parsed")
	}
}
