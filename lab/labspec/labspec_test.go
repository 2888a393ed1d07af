package labspec_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"
	"go.uber.org/goleak"

	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/lab/labspec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixtureEnv makes TestFixtureSuite run: the suite below has specs that
// fail on purpose, so it runs only in a child process that
// TestRunInASuite starts and reads the report of.
const fixtureEnv = "NETLAB_LABSPEC_FIXTURE"

var suiteT *testing.T

func TestFixtureSuite(t *testing.T) {
	if os.Getenv(fixtureEnv) == "" {
		t.Skip("a fixture with failing specs: TestRunInASuite runs it in a child process")
	}
	suiteT = t
	RegisterFailHandler(Fail)
	RunSpecs(t, "labspec fixture")
	// Every lab a spec built is closed, failed specs included. (Ginkgo
	// leaves its interrupt handler running after RunSpecs.)
	if err := goleak.Find(goleak.IgnoreTopFunction(
		"github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2"),
		goleak.IgnoreAnyFunction("github.com/netlab/netlab/lab/labspec_test.blockForever")); err != nil {
		fmt.Println("FIXTURE-LEAK:", err)
	}
}

func topo() lab.Topology {
	return lab.Topology{
		Endpoints: []lab.EndpointConfig{{Name: "alice"}, {Name: "bob"}},
		STUN:      lab.Server{Mode: lab.ServerOff},
		TURN:      lab.Server{Mode: lab.ServerOff},
	}
}

var _ = Describe("labspec", func() {
	It("measures the body on the lab clock", func() {
		res := labspec.Run(suiteT, topo(), labspec.Virtual, 0, func(ctx context.Context, l *lab.Lab) {
			time.Sleep(10 * time.Minute) // virtual time: the bubble's clock jumps
		})
		Expect(res.Clock).To(Equal(labspec.Virtual))
		// On the wall clock this would outlast the child's 2 minutes.
		Expect(res.Elapsed).To(Equal(10 * time.Minute))
		Expect(res.Wall).To(BeNumerically(">", 0))
	})
	It("ends the body's context at the timeout", func() {
		res := labspec.Run(suiteT, topo(), labspec.Virtual, 3*time.Minute, func(ctx context.Context, l *lab.Lab) {
			<-ctx.Done()
			Expect(ctx.Err()).To(MatchError(context.DeadlineExceeded))
		})
		Expect(res.Elapsed).To(Equal(3 * time.Minute))
	})
	It("runs the same body in real time", func() {
		res := labspec.Run(suiteT, topo(), labspec.Real, time.Minute, func(ctx context.Context, l *lab.Lab) {
			Expect(l.Cut("alice")).To(Succeed())
		})
		Expect(res.Clock).To(Equal(labspec.Real))
		Expect(res.Timeline).To(ContainElement(HaveField("Kind", "cut")))
	})
	It("runs a virtual body on one P and puts GOMAXPROCS back", func() {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
		var in int
		labspec.Run(suiteT, topo(), labspec.Virtual, 0, func(ctx context.Context, l *lab.Lab) {
			in = runtime.GOMAXPROCS(0)
		})
		Expect(in).To(Equal(1), "GOMAXPROCS inside the bubble")
		Expect(runtime.GOMAXPROCS(0)).To(Equal(3), "GOMAXPROCS after the run")
		labspec.Run(suiteT, topo(), labspec.Real, time.Minute, func(ctx context.Context, l *lab.Lab) {
			in = runtime.GOMAXPROCS(0)
		})
		Expect(in).To(Equal(3), "GOMAXPROCS in a real-time run")
	})
	It("fails the spec from inside the bubble", func() {
		labspec.Run(suiteT, topo(), labspec.Virtual, 0, func(ctx context.Context, l *lab.Lab) {
			Expect(l.Cut("alice")).To(Succeed())
			time.Sleep(time.Second) // virtual time
			Expect(1).To(Equal(2), "the fixture's failure")
		})
	})
	It("fails the spec, naming it, when a goroutine outlives the lab", func() {
		labspec.Run(suiteT, topo(), labspec.Virtual, 0, func(ctx context.Context, l *lab.Lab) {
			go blockForever()
		})
	})
	It("goes on after a run that left a goroutine behind", func() {
		res := labspec.Run(suiteT, topo(), labspec.Virtual, 0, func(ctx context.Context, l *lab.Lab) {
			time.Sleep(time.Second) // virtual time
		})
		Expect(res.Elapsed).To(Equal(time.Second))
	})
	It("refuses a real-time topology in virtual time", func() {
		t := topo()
		t.Signaling.Transport = lab.TransportWS
		labspec.Run(suiteT, t, labspec.Virtual, 0, func(ctx context.Context, l *lab.Lab) {})
	})
})

// blockForever is the goroutine a fixture spec leaves behind on purpose:
// blocked for good, in a bubble that has ended.
func blockForever() { select {} }

// TestRunInASuite runs the fixture suite in a child process and checks
// each spec's outcome in its JSON report: passes measured on the right
// clock, and a failure inside a bubble reported as the spec's own, with
// its message and line, its lab closed.
func TestRunInASuite(t *testing.T) {
	report := filepath.Join(t.TempDir(), "report.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFixtureSuite$", "-test.count=1", "-ginkgo.json-report="+report)
	cmd.Env = append(os.Environ(), fixtureEnv+"=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("child: %v, want exit status 1 (three specs fail on purpose)\n%s", err, out)
	}
	if strings.Contains(string(out), "FIXTURE-LEAK") {
		t.Errorf("the fixture left goroutines behind:\n%s", out)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var reps []types.Report
	if err := json.Unmarshal(data, &reps); err != nil || len(reps) != 1 {
		t.Fatalf("report: %v (%d suites)", err, len(reps))
	}
	got := map[string]types.SpecReport{}
	for _, s := range reps[0].SpecReports {
		if s.LeafNodeType == types.NodeTypeIt {
			got[s.LeafNodeText] = s
		}
	}
	for _, c := range []struct {
		spec, msg string
		failed    bool
	}{
		{spec: "measures the body on the lab clock"},
		{spec: "ends the body's context at the timeout"},
		{spec: "runs the same body in real time"},
		{spec: "runs a virtual body on one P and puts GOMAXPROCS back"},
		{spec: "fails the spec from inside the bubble", failed: true, msg: "the fixture's failure"},
		{spec: "refuses a real-time topology in virtual time", failed: true, msg: "cannot run in virtual time"},
		{spec: "fails the spec, naming it, when a goroutine outlives the lab", failed: true, msg: "labspec_test.blockForever"},
		{spec: "goes on after a run that left a goroutine behind"},
	} {
		s, ok := got[c.spec]
		switch {
		case !ok:
			t.Errorf("%s: not in the report", c.spec)
		case !c.failed && s.State != types.SpecStatePassed:
			t.Errorf("%s: %s, want passed: %s at %s", c.spec, s.State, s.Failure.Message, s.Failure.Location)
		case c.failed && (s.State != types.SpecStateFailed || !strings.Contains(s.Failure.Message, c.msg)):
			t.Errorf("%s: %s %q, want failed with %q", c.spec, s.State, s.Failure.Message, c.msg)
		case c.failed && filepath.Base(s.Failure.Location.FileName) != "labspec_test.go":
			t.Errorf("%s: failure located at %s, want the spec's own line", c.spec, s.Failure.Location)
		}
	}
}
