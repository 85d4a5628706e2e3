using VirtioFsd.Cli;
using VirtioFsd.Device;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Passthrough.Migration;
using VirtioFsd.Fuse.Server;

namespace VirtioFsd.Tests.Cli;

public class CommandLineTests
{
    private static DaemonOptions Run(bool isRoot, params string[] args)
    {
        CliResult r = VirtiofsdCommandLine.Parse(args, isRoot);
        Assert.True(r.Action == CliAction.Run, r.Error);
        return r.Options!;
    }

    private static string Fails(params string[] args) => FailsAs(true, args);

    private static string FailsAs(bool isRoot, params string[] args)
    {
        CliResult r = VirtiofsdCommandLine.Parse(args, isRoot);
        Assert.Equal(CliAction.Fail, r.Action);
        Assert.NotNull(r.Error);
        Assert.DoesNotContain('\n', r.Error);
        return r.Error!;
    }

    [Fact]
    public void Libvirt_launch_line()
    {
        DaemonOptions o = Run(true, "--fd=3", "--shared-dir", "/srv/share", "--cache", "never", "--sandbox", "chroot",
            "--xattr", "--thread-pool-size=16", "--rlimit-nofile=65536");
        Assert.Equal(3, o.ListenFd);
        Assert.Null(o.SocketPath);
        Assert.Equal("/srv/share", o.SharedDir);
        Assert.Equal(CacheMode.Never, o.Fuse.Cache);
        Assert.Equal(SandboxMode.Chroot, o.Sandbox);
        Assert.True(o.Fuse.Xattr);
        Assert.Equal(16u, o.Device.ThreadPoolSize);
        Assert.Equal(65536UL, o.RlimitNofile);
        // cache=never turns READDIRPLUS off, as in the Rust daemon.
        Assert.False(o.Fuse.ReadDirPlus);
    }

    [Fact]
    public void Kata_launch_line()
    {
        DaemonOptions o = Run(true, "--syslog", "--cache=auto", "--shared-dir=/run/kata/shared", "--fd=3");
        Assert.True(o.Syslog);
        Assert.Equal(CacheMode.Auto, o.Fuse.Cache);
        Assert.Equal("/run/kata/shared", o.SharedDir);
        Assert.Equal(3, o.ListenFd);
        Assert.Equal(SandboxMode.Namespace, o.Sandbox);
        Assert.True(o.Fuse.ReadDirPlus);
    }

    [Fact]
    public void Podman_machine_launch_line_as_non_root()
    {
        DaemonOptions o = Run(false, "--sandbox", "none", "--socket-path", "/run/user/1000/vfs.sock", "--shared-dir", ".", "--seccomp=none");
        Assert.Equal(SandboxMode.None, o.Sandbox);
        Assert.Equal("/run/user/1000/vfs.sock", o.SocketPath);
        Assert.Null(o.ListenFd);
        Assert.Equal(".", o.SharedDir);
        Assert.Equal(SeccompMode.None, o.Seccomp);
    }

    [Fact]
    public void Defaults_follow_the_rust_daemon()
    {
        DaemonOptions o = Run(true, "--shared-dir", "/d", "--socket-path", "/s");
        Assert.Equal(CacheMode.Auto, o.Fuse.Cache);
        Assert.Equal(SandboxMode.Namespace, o.Sandbox);
        Assert.Equal(LogLevel.Info, o.LogLevel);
        Assert.Equal(SeccompMode.Kill, o.Seccomp);
        Assert.True(o.Fuse.AnnounceSubmounts);
        Assert.False(o.Fuse.KillPrivV2);
        Assert.False(o.Fuse.Xattr);
        Assert.Null(o.RlimitNofile);
        Assert.Equal("", o.Device.Tag);
        Assert.Equal(SandboxMode.Namespace, Run(false, "--shared-dir", "/d", "--socket-path", "/s").Sandbox);
    }

    [Fact]
    public void Flags_map_to_options()
    {
        DaemonOptions o = Run(true, "--shared-dir", "/d", "--socket-path", "/s", "--tag", "myfs", "--writeback",
            "--allow-direct-io", "--allow-mmap", "--no-readdirplus", "--posix-acl", "--security-label", "--readonly",
            "--no-announce-submounts", "--inode-file-handles=never", "--killpriv-v2", "--preserve-noatime",
            "--sandbox", "none", "--log-level", "trace", "--socket-group", "kvm", "--cache", "metadata");
        Assert.Equal("myfs", o.Device.Tag);
        Assert.True(o.Fuse.Writeback && o.Fuse.AllowDirectIo && o.Fuse.AllowMmap && o.Fuse.PosixAcl && o.Fuse.SecurityLabel && o.Fuse.ReadOnly);
        Assert.True(o.Fuse.Xattr); // implied by --posix-acl / --security-label
        Assert.False(o.Fuse.ReadDirPlus);
        Assert.False(o.Fuse.AnnounceSubmounts);
        Assert.True(o.Fuse.KillPrivV2 && o.FileSystem.PreserveNoatime);
        Assert.Equal(LogLevel.Trace, o.LogLevel);
        Assert.Equal("kvm", o.SocketGroup);
        Assert.Equal(CacheMode.Metadata, o.Fuse.Cache);
    }

    [Fact]
    public void Legacy_o_form()
    {
        CliResult r = VirtiofsdCommandLine.Parse(["--socket-path=/s", "-o", "source=/d,cache=none,xattr", "-o", "log_level=debug", "-o", "sandbox=chroot,no_posix_lock"], true);
        Assert.Equal(CliAction.Run, r.Action);
        DaemonOptions o = r.Options!;
        Assert.Equal("/d", o.SharedDir);
        Assert.Equal(CacheMode.Never, o.Fuse.Cache);
        Assert.True(o.Fuse.Xattr);
        Assert.Equal(LogLevel.Debug, o.LogLevel);
        Assert.Equal(SandboxMode.Chroot, o.Sandbox);
        Assert.Contains(r.Warnings, w => w.Contains("-o", StringComparison.Ordinal));
    }

    [Fact]
    public void Legacy_o_later_items_override_earlier_ones()
    {
        DaemonOptions o = Run(true, "--socket-path=/s", "-o", "source=/d", "-o", "xattr,no_xattr,writeback");
        Assert.False(o.Fuse.Xattr);
        Assert.True(o.Fuse.Writeback);
    }

    [Theory]
    [InlineData("-o", "source=/d,flock", "flock")]
    [InlineData("-o", "source=/d,timeout=3", "timeout")]
    [InlineData("-o", "source=/d,cache=sometimes", "cache")]
    [InlineData("-o", "source=/d,xattrmap=:map::user.", "xattrmap")]
    public void Legacy_o_rejects_what_it_cannot_honour(string flag, string value, string named)
    {
        Assert.Contains(named, Fails("--socket-path=/s", flag, value), StringComparison.Ordinal);
    }

    [Fact]
    public void Deprecated_d_and_f_are_accepted_with_a_warning()
    {
        CliResult r = VirtiofsdCommandLine.Parse(["-f", "-d", "--shared-dir", "/d", "--socket-path", "/s"], true);
        Assert.Equal(CliAction.Run, r.Action);
        Assert.Equal(LogLevel.Debug, r.Options!.LogLevel);
        Assert.Equal(2, r.Warnings.Count);
    }

    [Fact]
    public void Missing_shared_dir_is_an_error()
    {
        Assert.Contains("--shared-dir", Fails("--socket-path", "/s"), StringComparison.Ordinal);
    }

    [Fact]
    public void Socket_path_and_fd_are_exclusive_and_one_is_required()
    {
        Assert.Contains("mutually exclusive", Fails("--shared-dir", "/d", "--socket-path", "/s", "--fd", "3"), StringComparison.Ordinal);
        Assert.Contains("--socket-path", Fails("--shared-dir", "/d"), StringComparison.Ordinal);
        Assert.Contains("--socket-group", Fails("--shared-dir", "/d", "--fd", "3", "--socket-group", "kvm"), StringComparison.Ordinal);
        Fails("--shared-dir", "/d", "--fd", "-1");
    }

    [Fact]
    public void Shared_dir_twice_from_both_forms_conflicts()
    {
        Assert.Contains("conflicting", Fails("--socket-path=/s", "--shared-dir", "/a", "-o", "source=/b"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--cache", "sometimes")]
    [InlineData("--sandbox", "jail")]
    [InlineData("--log-level", "loud")]
    [InlineData("--seccomp", "maybe")]
    [InlineData("--inode-file-handles", "often")]
    [InlineData("--inode-fd-cache-size", "-1")]
    [InlineData("--inode-fd-cache-size", "2000000")]
    [InlineData("--thread-pool-size", "many")]
    [InlineData("--rlimit-nofile", "-5")]
    public void Invalid_values_are_errors(string option, string value)
    {
        Fails("--shared-dir", "/d", "--socket-path", "/s", option, value);
    }

    [Fact]
    public void Migration_options_take_the_rust_daemons_values_and_defaults()
    {
        var defaults = Run(true, "--shared-dir", "/d", "--socket-path", "/s").FileSystem.Migration;
        Assert.Equal(MigrationMode.FindPaths, defaults.Mode);
        Assert.Equal(MigrationErrorPolicy.Abort, defaults.OnError);
        Assert.False(defaults.VerifyHandles);
        Assert.False(defaults.ConfirmPaths);
        var given = Run(true, "--shared-dir", "/d", "--socket-path", "/s", "--migration-mode", "find-paths",
            "--migration-on-error=guest-error", "--migration-verify-handles", "--migration-confirm-paths").FileSystem.Migration;
        Assert.Equal(MigrationErrorPolicy.GuestError, given.OnError);
        Assert.True(given.VerifyHandles);
        Assert.True(given.ConfirmPaths);
        Assert.Equal(MigrationMode.FileHandles,
            Run(true, "--shared-dir", "/d", "--socket-path", "/s", "--migration-mode=file-handles").FileSystem.Migration.Mode);
        Assert.Contains("find-paths", Fails("--shared-dir", "/d", "--socket-path", "/s", "--migration-mode", "paths"), StringComparison.Ordinal);
        Assert.Contains("guest-error", Fails("--shared-dir", "/d", "--socket-path", "/s", "--migration-on-error", "ignore"), StringComparison.Ordinal);
        Assert.Contains("find-paths", Fails("--shared-dir", "/d", "--socket-path", "/s", "--migration-mode", "file-handles", "--migration-verify-handles"),
            StringComparison.Ordinal);
    }

    [Fact]
    public void The_migration_state_format_is_ours_by_default_and_rust_1_13_negotiates_no_locks()
    {
        DaemonOptions defaults = Run(true, "--shared-dir", "/d", "--socket-path", "/s");
        Assert.Equal(MigrationStateFormat.Native, defaults.FileSystem.Migration.StateFormat);
        Assert.True(defaults.Fuse.PosixLocks && defaults.Fuse.FlockLocks);
        Assert.Equal(MigrationStateFormat.Native,
            Run(true, "--shared-dir", "/d", "--socket-path", "/s", "--migration-state-format", "native").FileSystem.Migration.StateFormat);
        DaemonOptions rust = Run(true, "--shared-dir", "/d", "--socket-path", "/s", "--migration-state-format=rust-1.13");
        Assert.Equal(MigrationStateFormat.Rust113, rust.FileSystem.Migration.StateFormat);
        // The Rust virtiofsd 1.13 implements no locks: the guest negotiates none from the start.
        Assert.False(rust.Fuse.PosixLocks || rust.Fuse.FlockLocks);
        Assert.Contains("native or rust-1.13", Fails("--shared-dir", "/d", "--socket-path", "/s", "--migration-state-format", "rust"),
            StringComparison.Ordinal);
    }

    [Fact]
    public void Modcaps_is_parsed_in_order_from_both_forms_names_case_insensitive()
    {
        DaemonOptions d = Run(true, "--shared-dir", "/d", "--socket-path", "/s", "--modcaps=+SYS_ADMIN:-mknod:-cap_setfcap");
        Assert.Equal([new CapabilityChange(true, 21), new CapabilityChange(false, 27), new CapabilityChange(false, 31)], d.ModCaps);
        DaemonOptions legacy = Run(true, "--socket-path=/s", "-o", "source=/d,modcaps=-chown");
        Assert.Equal([new CapabilityChange(false, 0)], legacy.ModCaps);
        Assert.Empty(Run(true, "--shared-dir", "/d", "--socket-path", "/s").ModCaps);
    }

    [Theory]
    [InlineData("sys_admin", "'sys_admin' is not +NAME or -NAME")]
    [InlineData("+sys_admin:", "'' is not +NAME or -NAME")]
    [InlineData("+", "'+' is not +NAME or -NAME")]
    [InlineData("*chown", "'*chown' is not +NAME or -NAME")]
    [InlineData("+chown:-sys_flying", "unknown capability 'sys_flying'")]
    public void Modcaps_items_that_are_not_plus_or_minus_a_known_capability_are_refused(string value, string why)
    {
        string error = Fails("--shared-dir", "/d", "--socket-path", "/s", "--modcaps", value);
        Assert.Contains("--modcaps", error, StringComparison.Ordinal);
        Assert.Contains(why, error, StringComparison.Ordinal);
        Assert.Contains(why, Fails("--socket-path=/s", "-o", "source=/d,modcaps=" + value), StringComparison.Ordinal);
    }

    [Fact]
    public void Xattrmap_is_parsed_implies_xattr_and_reaches_the_filesystem()
    {
        DaemonOptions d = Run(true, "--shared-dir", "/d", "--socket-path", "/s", "--xattrmap", ":map:security.:trusted.virtiofs.:");
        Assert.True(d.Fuse.Xattr);
        Assert.NotNull(d.FileSystem.XattrMap);
        Assert.NotNull(Run(true, "--socket-path", "/s", "-o", "source=/d,xattrmap=/prefix/all//user.vm./ /bad/all///").FileSystem.XattrMap);
        Assert.Contains("--xattrmap", Fails("--shared-dir", "/d", "--socket-path", "/s", "--xattrmap", ":prefix:everywhere:a:b:"), StringComparison.Ordinal);
    }

    [Fact]
    public void Translate_uid_and_gid_rules_are_parsed_in_order_and_refused_with_posix_acl()
    {
        DaemonOptions d = Run(true, "--shared-dir", "/d", "--socket-path", "/s",
            "--translate-uid", "map:0:1000:1", "--translate-uid=squash-host:0:65534:1000", "--translate-gid", "forbid-guest:5:1");
        Assert.Equal([new VirtioFsd.Fuse.Server.IdRule(VirtioFsd.Fuse.Server.IdRuleKind.Map, 0, 1000, 1), new VirtioFsd.Fuse.Server.IdRule(VirtioFsd.Fuse.Server.IdRuleKind.SquashHost, 0, 65534, 1000)], d.Fuse.Uids.Rules);
        Assert.Equal([new VirtioFsd.Fuse.Server.IdRule(VirtioFsd.Fuse.Server.IdRuleKind.ForbidGuest, 5, 0, 1)], d.Fuse.Gids.Rules);
        VirtioFsd.Fuse.Server.FuseServerOptions server = d.Fuse;
        Assert.Equal(0u, server.Uids.ToGuest(1000));
        Assert.False(server.Gids.ToHost(5, out _));

        Assert.Contains("--posix-acl", Fails("--shared-dir", "/d", "--socket-path", "/s", "--posix-acl", "--translate-uid", "map:0:1000:1"), StringComparison.Ordinal);
        Assert.Contains("--translate-gid", Fails("--shared-dir", "/d", "--socket-path", "/s", "--translate-gid", "map:0:1000"), StringComparison.Ordinal);
    }

    [Fact]
    public void Inode_file_handles_default_to_prefer_as_the_rust_daemon_and_reach_the_filesystem()
    {
        DaemonOptions d = Run(true, "--shared-dir", "/d", "--socket-path", "/s");
        Assert.Equal(InodeFileHandleMode.Prefer, d.FileSystem.InodeFileHandles);
        Assert.Equal(PassthroughOptions.DefaultInodeFdCacheSize, d.FileSystem.InodeFdCacheSize);
        Assert.Equal(InodeFileHandleMode.Never, Run(true, "--shared-dir", "/d", "--socket-path", "/s", "--inode-file-handles=never").FileSystem.InodeFileHandles);
        Assert.Equal(InodeFileHandleMode.Prefer, Run(true, "--shared-dir", "/d", "--socket-path", "/s", "--inode-file-handles=fallback").FileSystem.InodeFileHandles);
        DaemonOptions m = Run(true, "--shared-dir", "/d", "--socket-path", "/s", "--inode-file-handles", "mandatory", "--inode-fd-cache-size", "0");
        Assert.Equal(InodeFileHandleMode.Mandatory, m.FileSystem.InodeFileHandles);
        Assert.Equal(0, m.FileSystem.InodeFdCacheSize);
        PassthroughOptions p = m.FileSystem;
        Assert.Equal(InodeFileHandleMode.Mandatory, p.InodeFileHandles);
        Assert.Equal(0, p.InodeFdCacheSize);
    }

    [Fact]
    public void Io_engine_selects_the_engine_and_keeps_the_default_otherwise()
    {
        Assert.Equal(IoEngineKind.Sync, Run(true, "--shared-dir", "/d", "--socket-path", "/s", "--io-engine", "sync").Device.IoEngine);
        Assert.Equal(IoEngineKind.IoUring, Run(true, "--shared-dir", "/d", "--socket-path", "/s", "--io-engine=io-uring").Device.IoEngine);
        Assert.Equal(new DaemonOptions { FileSystem = new PassthroughOptions { SharedDirectory = "/d" } }.Device.IoEngine, Run(true, "--shared-dir", "/d", "--socket-path", "/s").Device.IoEngine);
        Fails("--shared-dir", "/d", "--socket-path", "/s", "--io-engine", "aio");

        Assert.Equal(30u, Run(true, "--shared-dir", "/d", "--socket-path", "/s").Device.QueuePollMicroseconds);
        Assert.Equal(0u, Run(true, "--shared-dir", "/d", "--socket-path", "/s", "--queue-poll-us", "0").Device.QueuePollMicroseconds);
        Assert.Equal(250u, Run(true, "--shared-dir", "/d", "--socket-path", "/s", "--queue-poll-us=250").Device.QueuePollMicroseconds);
        Fails("--shared-dir", "/d", "--socket-path", "/s", "--queue-poll-us", "1001");
        Fails("--shared-dir", "/d", "--socket-path", "/s", "--queue-poll-us", "-1");
        Fails("--shared-dir", "/d", "--socket-path", "/s", "--queue-poll-us", "fast");
    }

    [Theory]
    [InlineData("none", SeccompMode.None)]
    [InlineData("log", SeccompMode.Log)]
    [InlineData("trap", SeccompMode.Trap)]
    [InlineData("kill", SeccompMode.Kill)]
    public void Every_seccomp_action_is_accepted(string value, SeccompMode mode)
    {
        Assert.Equal(mode, Run(true, "--shared-dir", "/d", "--socket-path", "/s", "--seccomp=" + value).Seccomp);
        Assert.Equal(mode, Run(false, "--shared-dir", "/d", "--socket-path", "/s", "--seccomp", value).Seccomp);
    }

    [Fact]
    public void Unknown_option_is_an_error()
    {
        Fails("--shared-dir", "/d", "--socket-path", "/s", "--frobnicate");
    }

    [Fact]
    public void Tag_length_is_bounded_by_the_config_space()
    {
        Fails("--shared-dir", "/d", "--socket-path", "/s", "--tag", new string('t', VirtiofsdCommandLine.MaxTagBytes + 1));
        Assert.Equal(36, Run(true, "--shared-dir", "/d", "--socket-path", "/s", "--tag", new string('t', 36)).Device.Tag.Length);
    }

    [Fact]
    public void Namespace_is_the_default_sandbox_for_everyone_and_chroot_needs_root()
    {
        Assert.Equal(SandboxMode.Namespace, Run(true, "--shared-dir", "/d", "--socket-path", "/s").Sandbox);
        Assert.Equal(SandboxMode.Namespace, Run(false, "--shared-dir", "/d", "--socket-path", "/s").Sandbox);
        Assert.Equal(SandboxMode.None, Run(false, "--shared-dir", "/d", "--socket-path", "/s", "--sandbox", "none").Sandbox);
        CliResult r = VirtiofsdCommandLine.Parse(["--shared-dir", "/d", "--socket-path", "/s", "--sandbox", "chroot"], false);
        Assert.Equal(CliAction.Fail, r.Action);
        Assert.Contains("chroot can only be used by root", r.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Uid_and_gid_maps_are_parsed_in_order_in_the_rust_daemons_grammar()
    {
        // libvirt's session mode: the user as the namespace's root, the subordinate range above it.
        DaemonOptions o = Run(false, "--fd=3", "--shared-dir", "/d", "--uid-map=:0:1000:1:", "--uid-map=:1:100000:65536:",
            "--gid-map", "/0/1000/1/");
        Assert.Equal([new IdMapRange(0, 1000, 1), new IdMapRange(1, 100000, 65536)], o.UidMap);
        Assert.Equal([new IdMapRange(0, 1000, 1)], o.GidMap);
        Assert.Equal("1 100000 65536", o.UidMap[1].MapLine);
        Assert.Empty(Run(false, "--fd=3", "--shared-dir", "/d").UidMap);
    }

    [Theory]
    [InlineData(":0:1000:")]
    [InlineData(":0:1000:1:2:")]
    [InlineData("0:1000:1")]
    [InlineData(":0:1000:1;")]
    [InlineData("a0a1000a1a")]
    [InlineData(":0:x:1:")]
    [InlineData(":0:-1:1:")]
    [InlineData(":0:1000:0:")]
    [InlineData(":4294967295:1000:2:")]
    [InlineData("")]
    public void Malformed_maps_are_refused(string value)
    {
        string error = FailsAs(false, "--shared-dir", "/d", "--socket-path", "/s", "--uid-map", value);
        Assert.Contains("--uid-map", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true, "namespace")]
    [InlineData(false, "none")]
    public void Maps_are_refused_where_there_is_no_user_namespace(bool isRoot, string sandbox)
    {
        foreach (string option in new[] { "--uid-map", "--gid-map" })
        {
            string error = FailsAs(isRoot, "--shared-dir", "/d", "--socket-path", "/s", "--sandbox", sandbox, option, ":0:1000:1:");
            Assert.Contains($"{option} can only be used by an unprivileged user with --sandbox namespace", error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Contradicting_switches_are_errors()
    {
        Fails("--shared-dir", "/d", "--socket-path", "/s", "--killpriv-v2", "--no-killpriv-v2");
        Fails("--shared-dir", "/d", "--socket-path", "/s", "--announce-submounts", "--no-announce-submounts");
    }

    [Fact]
    public void Print_capabilities_wins_over_anything_else()
    {
        Assert.Equal(CliAction.PrintCapabilities, VirtiofsdCommandLine.Parse(["--bogus", "--print-capabilities", "--cache", "x"], false).Action);
    }

    [Fact]
    public void Help_and_version()
    {
        Assert.Equal(CliAction.PrintHelp, VirtiofsdCommandLine.Parse(["-h"], false).Action);
        Assert.Equal(CliAction.PrintVersion, VirtiofsdCommandLine.Parse(["-V"], false).Action);
        Assert.Equal(CliAction.PrintVersion, VirtiofsdCommandLine.Parse(["--version"], false).Action);
        var help = new StringWriter();
        VirtiofsdCommandLine.WriteHelp(help);
        Assert.Contains("--shared-dir", help.ToString(), StringComparison.Ordinal);
        Assert.Contains("--uid-map", help.ToString(), StringComparison.Ordinal);
        Assert.Contains("--migration-mode", help.ToString(), StringComparison.Ordinal);
        // The defaults the help shows, spelled from the parser's own tables.
        string text = string.Join(' ', help.ToString().Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("[default: auto]", text, StringComparison.Ordinal);
        Assert.Contains("[default: info]", text, StringComparison.Ordinal);
        Assert.Contains("[default: namespace]", text, StringComparison.Ordinal);
        Assert.Contains("[default: kill]", text, StringComparison.Ordinal);
        Assert.Contains("[default: prefer]", text, StringComparison.Ordinal);
        Assert.Contains("[default: io-uring]", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_options_are_not_parsed_as_a_command_line()
    {
        // -h and --help are answered before parsing; the parser itself knows no help option (the root is a plain
        // command), so the other spellings a stock root command would take are usage errors, not a silent start.
        Assert.Equal(CliAction.PrintHelp, VirtiofsdCommandLine.Parse(["--socket-path", "/tmp/s", "--help"], false).Action);
        CliResult r = VirtiofsdCommandLine.Parse(["--socket-path", "/tmp/s", "--shared-dir", "/tmp", "-?"], false);
        Assert.Equal(CliAction.Fail, r.Action);
        Assert.Contains("-?", r.Error, StringComparison.Ordinal);
    }
}
