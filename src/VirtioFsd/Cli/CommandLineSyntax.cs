using System.CommandLine;
using VirtioFsd.Device;
using VirtioFsd.Fuse.Passthrough;

namespace VirtioFsd.Cli;

/// <summary>
/// The options of the Rust virtiofsd (same names, meanings and defaults), declared for System.CommandLine,
/// so the launch lines of libvirt, Kata and Podman work unchanged. Enumerated values are taken as strings
/// and checked in <see cref="VirtiofsdCommandLine"/> so a wrong value gets a message naming the choices.
/// </summary>
internal sealed class CommandLineSyntax
{
    /// <summary>What the daemon does when an option is not given: the records' own defaults, shown in the help.</summary>
    private static readonly DaemonOptions Defaults = new() { FileSystem = new PassthroughOptions { SharedDirectory = "" } };

    /// <summary>The root: a plain command when parsing, the stock root command (with its help option) for --help.</summary>
    public Command Root { get; }

    public Option<string> SharedDir { get; } = new("--shared-dir") { Description = "Shared directory path", HelpName = "DIR" };
    public Option<string> Tag { get; } = new("--tag") { Description = "The tag the virtio device advertises in its config space (VHOST_USER_PROTOCOL_F_CONFIG is offered with it; QEMU's vhost-user-fs-pci uses its own tag= instead)" };
    public Option<string> Socket { get; } = new("--socket") { Description = "vhost-user socket path [deprecated]", Hidden = true };
    public Option<string> SocketPath { get; } = new("--socket-path") { Description = "vhost-user socket path (a PATH.pid lock file is kept next to it)", HelpName = "PATH" };
    public Option<string> SocketGroup { get; } = new("--socket-group") { Description = "Name of group for the vhost-user socket" };
    public Option<int?> Fd { get; } = new("--fd") { Description = "File descriptor of a listening (not yet connected) socket" };
    public Option<int> ThreadPoolSize { get; } = new("--thread-pool-size") { Description = $"At most N kernel workers run each request queue's blocking file operations (the Rust daemon's pool of N threads); 0 leaves the kernel's limits [default: {Defaults.Device.ThreadPoolSize}]" };
    public Option<bool> Xattr { get; } = new("--xattr") { Description = "Enable support for extended attributes" };
    public Option<bool> PosixAcl { get; } = new("--posix-acl") { Description = "Enable support for POSIX ACLs (implies --xattr)" };
    public Option<string> XattrMap { get; } = new("--xattrmap") { Description = "Rules translating extended attribute names between guest and host, e.g. :map::user.virtiofs.: (implies --xattr)" };
    public Option<string> Sandbox { get; } = new("--sandbox") { Description = $"Sandbox mechanism: namespace (in a user namespace without root), chroot (root only), none [default: {CliValues.Spelling(CliValues.Sandbox, Defaults.Sandbox)}]" };
    public Option<bool> ReadOnly { get; } = new("--readonly") { Description = "Prevent the guest from modifying the file system" };
    public Option<string> Seccomp { get; } = new("--seccomp") { Description = $"Action for a syscall outside the allow-list: none, kill, log, trap [default: {CliValues.Spelling(CliValues.Seccomp, Defaults.Seccomp)}]" };
    public Option<bool> AnnounceSubmounts { get; } = new("--announce-submounts") { Description = $"Tell the guest which directories are mount points{(Defaults.Fuse.AnnounceSubmounts ? " [default]" : "")}" };
    public Option<bool> NoAnnounceSubmounts { get; } = new("--no-announce-submounts") { Description = "Do not tell the guest which directories are mount points" };
    public Option<string> InodeFileHandles { get; } = new("--inode-file-handles") { Description = $"When to hold known inodes by file handle instead of an O_PATH fd: never, prefer (handles where the filesystem and CAP_DAC_READ_SEARCH allow, fds elsewhere), mandatory (refuse to start without) [default: {CliValues.Spelling(CliValues.InodeFileHandles, Defaults.FileSystem.InodeFileHandles)}]" };
    public Option<string> InodeFdCacheSize { get; } = new("--inode-fd-cache-size") { Description = $"With inode file handles: how many fds of inodes no request is using stay open [default: {Defaults.FileSystem.InodeFdCacheSize}]" };
    public Option<string> Cache { get; } = new("--cache") { Description = $"Caching policy: auto, always, metadata, never [default: {CliValues.Spelling(CliValues.Cache, Defaults.Fuse.Cache)}]" };
    public Option<bool> AllowMmap { get; } = new("--allow-mmap") { Description = "With --cache metadata or never, still allow shared mmap of files" };
    public Option<bool> NoReadDirPlus { get; } = new("--no-readdirplus") { Description = "Disable READDIRPLUS" };
    public Option<bool> Writeback { get; } = new("--writeback") { Description = "Enable the writeback cache" };
    public Option<bool> AllowDirectIo { get; } = new("--allow-direct-io") { Description = "Honour O_DIRECT from guest applications" };
    public Option<bool> PrintCapabilities { get; } = new("--print-capabilities") { Description = "Print vhost-user.json backend program capabilities and exit" };
    public Option<string> ModCaps { get; } = new("--modcaps") { Description = "Modify the capabilities a daemon started as root keeps: colon-separated +NAME or -NAME (e.g. +sys_admin:-mknod)" };
    public Option<string> LogLevel { get; } = new("--log-level") { Description = $"Log level: error, warn, info, debug, trace, off [default: {CliValues.Spelling(CliValues.LogLevels, Defaults.LogLevel)}]" };
    public Option<bool> Syslog { get; } = new("--syslog") { Description = "Log to syslog [default: stderr]" };
    public Option<ulong?> RlimitNofile { get; } = new("--rlimit-nofile") { Description = "Maximum number of file descriptors; 0 leaves the limit unchanged [default: min(1000000, fs.nr_open)]" };
    public Option<string[]> Compat { get; } = new("-o") { Description = "Options in the legacy format, e.g. -o source=DIR,cache=auto [deprecated]", AllowMultipleArgumentsPerToken = false, Arity = ArgumentArity.OneOrMore };
    public Option<bool> CompatDebug { get; } = new("-d") { Description = "Set log level to debug [deprecated]" };
    public Option<bool> CompatForeground { get; } = new("-f") { Description = "No effect: the daemon always runs in the foreground [deprecated]" };
    public Option<bool> KillPrivV2 { get; } = new("--killpriv-v2") { Description = "Enable FUSE_HANDLE_KILLPRIV_V2" };
    public Option<bool> NoKillPrivV2 { get; } = new("--no-killpriv-v2") { Description = $"Disable FUSE_HANDLE_KILLPRIV_V2{(Defaults.Fuse.KillPrivV2 ? "" : " [default]")}" };
    public Option<bool> SecurityLabel { get; } = new("--security-label") { Description = "Store the security label the guest sends on creation (implies --xattr)" };
    public Option<bool> PreserveNoatime { get; } = new("--preserve-noatime") { Description = "Keep O_NOATIME from the guest" };
    public Option<bool> Version { get; } = new("--version", "-V") { Description = "Print version" };
    public Option<string> IoEngine { get; } = new("--io-engine") { Description = $"File I/O of the queue workers: sync or io-uring (falls back to sync where io_uring is unavailable) [default: {CliValues.Spelling(CliValues.IoEngine, Defaults.Device.IoEngine)}]" };
    public Option<string> QueuePollUs { get; } = new("--queue-poll-us") { Description = $"Microseconds a queue worker watches for the next request before sleeping, 0 to 1000; 0 disables [default: {Defaults.Device.QueuePollMicroseconds}]" };

    public Option<string[]> TranslateUid { get; } = new("--translate-uid") { Description = "Translate UIDs between guest and host, as <type>:<source base>:<target base>:<count> (types guest, host, squash-guest, squash-host, map; forbid-guest:<base>:<count>); repeatable; not with --posix-acl" };
    public Option<string[]> TranslateGid { get; } = new("--translate-gid") { Description = "Same as --translate-uid, for GIDs" };
    public Option<string[]> UidMap { get; } = new("--uid-map") { Description = "Map a range of host UIDs into the user namespace of an unprivileged --sandbox namespace, as :namespace_uid:host_uid:count: (newuidmap(1) checks /etc/subuid); repeatable" };
    public Option<string[]> GidMap { get; } = new("--gid-map") { Description = "Same as --uid-map, for GIDs (newgidmap(1), /etc/subgid)" };

    public Option<string> MigrationMode { get; } = new("--migration-mode") { Description = "How the inodes the guest knows are described to the migration destination: find-paths (their paths below the shared directory, found and checked at switch-over) or file-handles (their file handles: the same filesystem on both sides, and CAP_DAC_READ_SEARCH on the destination) [default: find-paths]" };
    public Option<string> MigrationOnError { get; } = new("--migration-on-error") { Description = "What an inode or lock that cannot be migrated does: abort (the migration fails, the guest keeps running on the source) or guest-error (the migration goes on; the guest gets errors for what could not be moved) [default: abort]" };
    public Option<bool> MigrationVerifyHandles { get; } = new("--migration-verify-handles") { Description = "find-paths only: the source sends each inode's file handle too, and the destination refuses a path that leads to another inode (the same filesystem on both sides)" };
    public Option<bool> MigrationConfirmPaths { get; } = new("--migration-confirm-paths") { Description = "find-paths only: check each path at switch-over (this daemon always finds and checks paths at switch-over, so this changes nothing)" };
    public Option<string> MigrationStateFormat { get; } = new("--migration-state-format") { Description = "The format of the state this daemon sends as a migration source: native (this daemon's) or rust-1.13 (what a Rust virtiofsd 1.13 destination reads); a destination reads both [default: native]" };

    /// <param name="forHelp">
    /// Build the stock root command, whose help option writes the usage text. Without it the root is a plain command
    /// named virtiofsd: -h and --help never reach the parser (<see cref="VirtiofsdCommandLine.Parse"/> answers them
    /// first), and the root command's resources and executable-name lookup took ~70 % of this constructor's
    /// time before the socket was ready.
    /// </param>
    public CommandLineSyntax(bool forHelp = false)
    {
        const string description = "virtio-fs vhost-user device backend (a drop-in virtiofsd)";
        Root = forHelp ? new RootCommand(description) : new Command("virtiofsd", description);
        // The stock --version option would print the assembly's informational version; -V/--version is ours.
        foreach (Option builtIn in Root.Options.Where(o => o is VersionOption).ToList())
        {
            Root.Options.Remove(builtIn);
        }
        Option[] all =
        [
            SharedDir, Tag, Socket, SocketPath, SocketGroup, Fd, ThreadPoolSize, Xattr, PosixAcl, XattrMap,
            Sandbox, ReadOnly, Seccomp, AnnounceSubmounts, NoAnnounceSubmounts, InodeFileHandles, Cache,
            AllowMmap, NoReadDirPlus, Writeback, AllowDirectIo, PrintCapabilities, ModCaps, LogLevel, Syslog,
            RlimitNofile, Compat, CompatDebug, CompatForeground, KillPrivV2, NoKillPrivV2, SecurityLabel,
            PreserveNoatime, Version, IoEngine, QueuePollUs, InodeFdCacheSize, TranslateUid, TranslateGid, UidMap, GidMap,
            MigrationMode, MigrationOnError, MigrationVerifyHandles, MigrationConfirmPaths, MigrationStateFormat,
        ];
        foreach (Option o in all)
        {
            Root.Options.Add(o);
        }
    }
}
