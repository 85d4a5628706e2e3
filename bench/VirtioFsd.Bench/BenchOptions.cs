using System.Globalization;

namespace VirtioFsd.Bench;

/// <summary>Command line of the benchmark (all optional except --ours).</summary>
public sealed class BenchOptions
{
    public string Ours { get; set; } = "";

    public string CDaemon { get; set; } = "/usr/lib/qemu/virtiofsd";

    public int Rounds { get; set; } = 3;

    /// <summary>Measured time per workload per daemon per round.</summary>
    public double Seconds { get; set; } = 1.0;

    /// <summary>Unmeasured run of each workload before its measurements in a session (JIT, caches, dentries).</summary>
    public double WarmupSeconds { get; set; } = 0.2;

    /// <summary>Cap on operations per queue per measurement (a smoke run sets a few hundred).</summary>
    public long MaxOps { get; set; } = long.MaxValue;

    public int Queues { get; set; } = 4;

    /// <summary>--thread-pool-size values for the C daemon; "default" passes none.</summary>
    public List<string> CPools { get; set; } = ["default", "16"];

    public string WorkDir { get; set; } = Path.Combine(Path.GetTempPath(), "virtiofsd-bench");

    public string? Report { get; set; }

    public string? Svg { get; set; }

    public string? Json { get; set; }

    /// <summary>Workload names to run (empty = all).</summary>
    public List<string> Workloads { get; set; } = [];

    /// <summary>Skip the C daemon (smoke tests, profiling ours alone).</summary>
    public bool OursOnly { get; set; }

    /// <summary>Run only this family ("ours" or "C"), e.g. to profile one side.</summary>
    public string? Only { get; set; }

    /// <summary>
    /// A command the daemon is started under (split on spaces), e.g. "strace -c -f -o /tmp/s.txt" or
    /// "perf record -g -o /tmp/p.data --": for profiling; CPU figures then include the wrapper.
    /// </summary>
    public List<string> Wrap { get; set; } = [];

    /// <summary>Small data set (smoke tests): 8 MiB files, 100 names, a 300-entry directory to list.</summary>
    public bool Small { get; set; }

    /// <summary>--soak SECONDS: instead of the comparison, a long mixed load on ours with RSS and fds sampled (see Soak/).</summary>
    public double SoakSeconds { get; set; }

    /// <summary>--sample SECONDS: the soak's sampling interval.</summary>
    public double SampleSeconds { get; set; } = 5;

    /// <summary>--inode-scale N: instead of the comparison, walk a tree of N files per set-up (see InodeScale/).</summary>
    public int InodeScale { get; set; }

    /// <summary>
    /// --rust PATH: the Rust virtiofsd (or a wrapper that runs it, scripts/rust-virtiofsd.sh) as a peer; in the
    /// daemon-level comparison it then replaces the C daemon (its --c-pools default to "default,4").
    /// </summary>
    public string? Rust { get; set; }

    /// <summary>--footprint: instead of the comparison, start-up time, idle and loaded RSS and threads per set-up (see Footprint/).</summary>
    public bool Footprint { get; set; }

    /// <summary>--also LABEL=PATH (repeatable): another build of ours measured beside --ours (e.g. ReadyToRun beside NativeAOT).</summary>
    public List<(string Label, string Path)> Also { get; set; } = [];

    /// <summary>--ours-label: how --ours is named in the footprint tables.</summary>
    public string OursLabel { get; set; } = "ours";

    /// <summary>--sandbox MODE passed to every daemon of the footprint run (the Rust one can do chroot or none in its root).</summary>
    public string Sandbox { get; set; } = "chroot";

    /// <summary>
    /// --baseline PATH: another build of ours as the peer, with the same command line and queue counts as --ours (is a
    /// change no slower?); it then replaces the C and Rust daemons.
    /// </summary>
    public string? Baseline { get; set; }

    /// <summary>How the reports name the peer: the baseline build, the Rust daemon when --rust is given, else the C one.</summary>
    public string PeerName => Baseline is not null ? "baseline" : Rust is null ? "C" : "Rust";

    private bool _poolsGiven;

    public const string Usage = """
        virtiofsd-bench --ours PATH [--c PATH] [--rounds N] [--seconds S] [--warmup S] [--max-ops N] [--queues N]
                        [--c-pools default,16] [--workdir DIR] [--report FILE.md] [--svg FILE.svg] [--json FILE]
                        [--workloads a,b] [--ours-only] [--only ours|C] [--wrap "CMD ARGS"] [--small] [--rust PATH] [--baseline PATH]
        virtiofsd-bench --ours PATH --soak SECONDS [--sample S] [--queues N] [--workdir DIR] [--report FILE.md] [--svg FILE.svg] [--small]
        virtiofsd-bench --ours PATH --inode-scale FILES [--rust PATH] [--workdir DIR] [--report FILE.md]
        virtiofsd-bench --ours PATH --footprint [--ours-label L] [--also LABEL=PATH ...] [--rust PATH] [--sandbox chroot|none]
                        [--rounds N] [--seconds S] [--queues N] [--workloads a,b] [--workdir DIR] [--report FILE.md]
        """;

    public static BenchOptions Parse(string[] args)
    {
        var o = new BenchOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
            switch (a)
            {
                case "--ours": o.Ours = Next(); break;
                case "--c": o.CDaemon = Next(); break;
                case "--rounds": o.Rounds = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--seconds": o.Seconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--warmup": o.WarmupSeconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--max-ops": o.MaxOps = long.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--queues": o.Queues = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--c-pools": o.CPools = [.. Next().Split(',', StringSplitOptions.RemoveEmptyEntries)]; o._poolsGiven = true; break;
                case "--workdir": o.WorkDir = Next(); break;
                case "--report": o.Report = Next(); break;
                case "--svg": o.Svg = Next(); break;
                case "--json": o.Json = Next(); break;
                case "--workloads": o.Workloads = [.. Next().Split(',', StringSplitOptions.RemoveEmptyEntries)]; break;
                case "--ours-only": o.OursOnly = true; break;
                case "--only": o.Only = Next(); break;
                case "--wrap": o.Wrap = [.. Next().Split(' ', StringSplitOptions.RemoveEmptyEntries)]; break;
                case "--small": o.Small = true; break;
                case "--soak": o.SoakSeconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--sample": o.SampleSeconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--inode-scale": o.InodeScale = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--rust": o.Rust = Next(); break;
                case "--baseline": o.Baseline = Next(); break;
                case "--footprint": o.Footprint = true; break;
                case "--ours-label": o.OursLabel = Next(); break;
                case "--sandbox": o.Sandbox = Next(); break;
                case "--also":
                    string[] kv = Next().Split('=', 2);
                    o.Also.Add(kv.Length == 2 ? (kv[0], kv[1]) : throw new ArgumentException("--also takes LABEL=PATH"));
                    break;
                default: throw new ArgumentException($"unknown argument {a}");
            }
        }
        if (o.Rust is not null && !o._poolsGiven)
        {
            // The Rust daemon's default (no pool) and the pool size that served it best here (docs/benchmark-rust.md).
            o.CPools = ["default", "4"];
        }
        if (o.Ours.Length == 0)
        {
            throw new ArgumentException("--ours is required");
        }
        if (o.Rounds < 1 || o.Seconds <= 0 || o.Queues < 1 || o.MaxOps < 1 || o.WarmupSeconds < 0 || o.SoakSeconds < 0 || o.SampleSeconds <= 0 || o.InodeScale < 0)
        {
            throw new ArgumentException("--rounds, --seconds, --queues and --max-ops must be positive");
        }
        return o;
    }
}
