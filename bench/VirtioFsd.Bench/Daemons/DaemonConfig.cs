namespace VirtioFsd.Bench.Daemons;

/// <summary>
/// One daemon set-up the run measures: which family ("ours" or "C", the ratio's two sides), a label for
/// the tables, the command line for a socket and a shared directory, and the request queues to use.
/// </summary>
public sealed record DaemonConfig(string Family, string Label, string Executable, Func<string, string, IReadOnlyList<string>> Arguments, int RequestQueues)
{
    public const string Ours = "ours";
    public const string C = "C";

    /// <summary>Ours with its defaults (namespace sandbox, io_uring engine), as the C daemon runs with its own.</summary>
    public static DaemonConfig OursWith(string executable, int queues) => new(Ours, $"ours {queues}q", executable,
        (socket, dir) => ["--socket-path", socket, "--shared-dir", dir, "--cache", "auto"], queues);

    /// <summary>Another build of ours as the peer (the "C" family of the ratios), run exactly as ours is.</summary>
    public static DaemonConfig BaselineWith(string executable, int queues) => OursWith(executable, queues) with
    {
        Family = C,
        Label = $"baseline {queues}q",
    };

    /// <summary>
    /// The C virtiofsd (QEMU 7.2): one request queue (it offers no VHOST_USER_PROTOCOL_F_MQ);
    /// <paramref name="pool"/> null = its default --thread-pool-size, which is 0 in 7.2 (its --help).
    /// </summary>
    public static DaemonConfig CWith(string executable, int? pool) => new(C, pool is null ? "C pool=0 (default)" : $"C pool={pool}", executable,
        (socket, dir) => pool is null
            ? ["--socket-path=" + socket, "-o", "source=" + dir, "-o", "cache=auto"]
            : ["--socket-path=" + socket, "-o", "source=" + dir, "-o", "cache=auto", "--thread-pool-size=" + pool], 1);

    /// <summary>
    /// The Rust virtiofsd as the peer (the "C" family of the ratios), with --sandbox chroot since its namespace
    /// sandbox cannot start in the Debian 13 root scripts/rust-virtiofsd.sh runs it from; <paramref name="pool"/>
    /// null = its default --thread-pool-size 0.
    /// </summary>
    public static DaemonConfig RustWith(string executable, int? pool) => new(C, pool is null ? "Rust pool=0 (default)" : $"Rust pool={pool}", executable,
        (socket, dir) => pool is null
            ? ["--socket-path", socket, "--shared-dir", dir, "--cache", "auto", "--sandbox", "chroot"]
            : ["--socket-path", socket, "--shared-dir", dir, "--cache", "auto", "--sandbox", "chroot", "--thread-pool-size=" + pool], 1);
}
