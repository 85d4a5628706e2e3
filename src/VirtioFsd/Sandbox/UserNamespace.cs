using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using Serilog;
using VirtioFsd.Cli;
using VirtioFsd.Linux;

namespace VirtioFsd.Sandbox;

/// <summary>
/// <c>--sandbox namespace</c> without root, as the Rust virtiofsd does it: the namespaces belong to a new user
/// namespace, in which the daemon holds the capabilities the sandbox and the serving need. Its ids are the
/// daemon's own uid and gid (one line each, written directly), or the <c>--uid-map</c>/<c>--gid-map</c> ranges
/// (written by newuidmap(1)/newgidmap(1), which check /etc/subuid and /etc/subgid). When the map makes uid 0
/// of the namespace someone (libvirt's session mode maps the user there), the daemon becomes that root and can
/// act as every mapped guest id; else it creates everything as itself.
/// </summary>
/// <remarks>
/// The namespace is made by the child's clone(2) in the NativeAOT binary (<see cref="NamespaceSpawn"/>), by
/// unshare(1) in the JIT build (a .NET process is multithreaded, and unshare(CLONE_NEWUSER) refuses a
/// multithreaded caller). Either makes the capabilities ambient (unshare's <c>--keep-caps</c>) so that they
/// survive the exec of the daemon while the daemon's uid has no mapping yet. A map must be written from the
/// parent namespace, so the launch stage (this process, on the host) waits for the namespace to appear, writes
/// it, and then sends one byte down a pipe the daemon waits on before it touches anything.
/// </remarks>
internal sealed class UserNamespace : IDisposable
{
    /// <summary>unshare(1) options that put the other namespaces into a new user namespace (JIT build).</summary>
    public static readonly string[] UnshareOptions = ["--user", "--keep-caps"];

    private static readonly TimeSpan AppearTimeout = TimeSpan.FromSeconds(30);

    private readonly UnixFd _mappedWrite;
    private UnixFd? _mappedRead;

    private UserNamespace(int read, int write)
    {
        _mappedRead = new UnixFd(read);
        _mappedWrite = new UnixFd(write);
    }

    /// <summary>The pipe for the "mapped" byte; its read end is made inheritable. Null (logged) when pipe2 fails.</summary>
    public static UserNamespace? Create(ProcessStartInfo psi, ILogger log)
    {
        ArgumentNullException.ThrowIfNull(psi);
        int r = Libc.Pipe2(Libc.O_CLOEXEC, out int read, out int write);
        if (r < 0)
        {
            log.Error("pipe2: {Error:l}", Errno.Describe(r));
            return null;
        }
        Libc.Fcntl(read, Libc.F_SETFD, 0);
        psi.Environment[LaunchStage.UserNamespaceVariable] = read.ToString(CultureInfo.InvariantCulture);
        return new UserNamespace(read, write);
    }

    /// <summary>
    /// Once the child (<paramref name="pid"/>: the daemon, or unshare(1)) runs: waits for its user namespace,
    /// writes the maps and lets the daemon go on. False (logged) when that fails; the daemon then sees EOF and exits.
    /// </summary>
    public bool MapAndRelease(int pid, DaemonOptions options, ILogger log)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        _mappedRead?.Dispose();
        _mappedRead = null;
        using UnixFd release = _mappedWrite;
        bool mapped = Map(pid, options, log);
        return mapped && Libc.Write(release.Value, [1]) == 1;
    }

    private static bool Map(int pid, DaemonOptions options, ILogger log)
    {
        if (!WaitForNamespace(pid, log))
        {
            return false;
        }
        uint uid = Libc.GetEuid();
        uint gid = Libc.Getegid();
        IReadOnlyList<IdMapRange> uids = options.UidMap.Count > 0 ? options.UidMap : [new IdMapRange(uid, uid, 1)];
        IReadOnlyList<IdMapRange> gids = options.GidMap.Count > 0 ? options.GidMap : [new IdMapRange(gid, gid, 1)];
        string? error = WriteMap(pid, "uid", uids, uid, log) ?? WriteMap(pid, "gid", gids, gid, log);
        if (error is not null)
        {
            log.Error("Sandbox (namespace): cannot map the user namespace's ids: {Error:l}", error);
            return false;
        }
        log.Debug("Sandbox: user namespace of {Pid} maps uids {Uids:l} and gids {Gids:l}", pid, string.Join(' ', uids), string.Join(' ', gids));
        return true;
    }

    public void Dispose()
    {
        _mappedRead?.Dispose();
        _mappedWrite.Dispose();
    }

    /// <summary>In the daemon: waits for the launch stage's byte. False (logged) on EOF: the ids were not mapped.</summary>
    public static bool AwaitMapping(ILogger log)
    {
        if (LaunchStage.InheritedFd(LaunchStage.UserNamespaceVariable) is not { } fd)
        {
            return true;
        }
        using var pipe = new UnixFd(fd);
        Span<byte> b = stackalloc byte[1];
        long r;
        do
        {
            r = Libc.Read(fd, b);
        }
        while (r == -Errno.EINTR);
        if (r != 1)
        {
            log.Error("Sandbox (namespace): the launch stage did not map this user namespace's ids; stopping");
            return false;
        }
        // Root of the namespace where the map has one (setresuid/setresgid need the ambient CAP_SETUID/SETGID).
        if (Libc.SetResGidAllThreads(0) < 0 || Libc.SetResUidAllThreads(0) < 0)
        {
            log.Debug("Sandbox: uid or gid 0 has no mapping in the user namespace; serving as uid {Uid}", Libc.GetEuid());
        }
        return true;
    }

    private static bool WaitForNamespace(int pid, ILogger log)
    {
        string? own = NamespaceOf("self");
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < AppearTimeout)
        {
            string? theirs = NamespaceOf(pid.ToString(CultureInfo.InvariantCulture));
            if (theirs is null)
            {
                log.Error("Sandbox (namespace): the child exited before it had a user namespace (if this system does not allow unprivileged user namespaces, use --sandbox none)");
                return false;
            }
            if (theirs != own)
            {
                return true;
            }
            Thread.Sleep(1);
        }
        log.Error("Sandbox (namespace): the child made no user namespace in {Seconds} s", AppearTimeout.TotalSeconds);
        return false;
    }

    private static string? NamespaceOf(string process)
    {
        try
        {
            // The link's text, e.g. "user:[4026531837]" (the returned info's path is made relative to /proc/PID/ns).
            return File.ResolveLinkTarget($"/proc/{process}/ns/user", false)?.Name;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Writes /proc/PID/{uid,gid}_map: directly when it maps only the caller's own id once (any user may, for a
    /// gid map after setgroups is denied), through newuidmap/newgidmap otherwise. Null, or what went wrong.
    /// </summary>
    private static string? WriteMap(int pid, string kind, IReadOnlyList<IdMapRange> ranges, uint own, ILogger log)
    {
        if (ranges is [{ Count: 1 } only] && only.Outside == own)
        {
            try
            {
                if (kind == "gid")
                {
                    File.WriteAllText($"/proc/{pid}/setgroups", "deny");
                }
                File.WriteAllText($"/proc/{pid}/{kind}_map", only.MapLine);
                return null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return $"/proc/{pid}/{kind}_map: {e.Message}";
            }
        }
        string tool = $"new{kind}map";
        var psi = new ProcessStartInfo(tool) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add(pid.ToString(CultureInfo.InvariantCulture));
        foreach (IdMapRange range in ranges)
        {
            psi.ArgumentList.Add(range.Inside.ToString(CultureInfo.InvariantCulture));
            psi.ArgumentList.Add(range.Outside.ToString(CultureInfo.InvariantCulture));
            psi.ArgumentList.Add(range.Count.ToString(CultureInfo.InvariantCulture));
        }
        try
        {
            using Process p = Process.Start(psi)!;
            string stderr = p.StandardError.ReadToEnd();
            p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            log.Debug("Sandbox: {Tool:l} exited with {Code}", tool, p.ExitCode);
            return p.ExitCode == 0 ? null : $"{tool} failed: {stderr.Trim()}";
        }
        catch (Win32Exception e)
        {
            return $"cannot run {tool} (package uidmap): {e.Message}";
        }
    }
}
