using VirtioFsd.Fuse.Abi;
using VirtioFsd.Linux;
using static VirtioFsd.Tests.Escape.EscapeShare;

namespace VirtioFsd.Tests.Escape;

/// <summary>
/// Escape attempts through the whole device (vhost-user, virtqueues, FUSE server, passthrough), in
/// this process and in a real daemon with <c>--sandbox none</c> and with its default sandbox: bad
/// names in every opcode that takes one, symlinks and /proc magic links out of the share, special
/// files, a file swapped for a FIFO. Nothing outside the share may change and nothing may block.
/// </summary>
[Collection(EscapeCollection.Name)]
public class DeviceEscapeTests
{
    /// <summary>Name classes a server must refuse (the kernel never sends them; a hostile guest can).</summary>
    public static readonly (string Class, byte[] Bytes)[] BadNames =
    [
        ("slash", N("a/b")),
        ("absolute", N("/etc/passwd")),
        ("up-and-out", N("../outside/secret")),
        ("root", N("/")),
        ("dot", N(".")),
        ("dotdot", N("..")),
        ("empty", [0]),
        ("no NUL", "abc"u8.ToArray()),
        ("interior NUL", [.. "in"u8, 0, .. "side"u8, 0]),
        ("256 bytes", N(new string('x', 256))),
        ("5000 bytes", N(new string('y', 5000))),
    ];

    public static TheoryData<DeviceKind> Kinds => [DeviceKind.InProcess, DeviceKind.SandboxNone, DeviceKind.SandboxNamespace];

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Every_name_taking_opcode_refuses_every_bad_name_class(DeviceKind kind)
    {
        using var share = new EscapeShare();
        using var d = DeviceUnderTest.Start(kind, share.Share);
        FuseDeviceClient c = d.Client;
        ulong f = c.Call(FuseOpcode.Lookup, 1, N("f")).NodeId;
        string listing = Listing(share);
        var accepted = new List<string>();
        foreach ((string cls, byte[] name) in BadNames)
        {
            var calls = new (string Opcode, FuseOpcode Op, ulong Node, byte[] Body)[]
            {
                ("LOOKUP", FuseOpcode.Lookup, 1, name),
                ("MKNOD", FuseOpcode.Mknod, 1, [.. FuseBytes.Of(new FuseMknodIn { Mode = Libc.S_IFREG | 0b110_100_100 }), .. name]),
                ("MKNOD fifo", FuseOpcode.Mknod, 1, [.. FuseBytes.Of(new FuseMknodIn { Mode = Libc.S_IFIFO | 0b110_100_100 }), .. name]),
                ("MKDIR", FuseOpcode.Mkdir, 1, [.. FuseBytes.Of(new FuseMkdirIn { Mode = 0b111_101_101 }), .. name]),
                ("SYMLINK name", FuseOpcode.Symlink, 1, [.. name, .. N("f")]),
                ("LINK", FuseOpcode.Link, 1, [.. FuseBytes.Of(new FuseLinkIn { OldNodeId = f }), .. name]),
                ("RENAME old", FuseOpcode.Rename, 1, [.. FuseBytes.Of(new FuseRenameIn { NewDir = 1 }), .. name, .. N("fresh")]),
                ("RENAME new", FuseOpcode.Rename, 1, [.. FuseBytes.Of(new FuseRenameIn { NewDir = 1 }), .. N("f"), .. name]),
                ("RENAME2 old", FuseOpcode.Rename2, 1, [.. FuseBytes.Of(new FuseRename2In { NewDir = 1 }), .. name, .. N("fresh")]),
                ("RENAME2 new", FuseOpcode.Rename2, 1, [.. FuseBytes.Of(new FuseRename2In { NewDir = 1, Flags = 1 }), .. N("f"), .. name]),
                ("UNLINK", FuseOpcode.Unlink, 1, name),
                ("RMDIR", FuseOpcode.Rmdir, 1, name),
                ("CREATE", FuseOpcode.Create, 1, [.. FuseBytes.Of(new FuseCreateIn { Flags = (uint)(Libc.O_RDWR | 0x40), Mode = Libc.S_IFREG | 0b110_100_100 }), .. name]),
            };
            foreach ((string opcode, FuseOpcode op, ulong node, byte[] body) in calls)
            {
                FuseReply a = c.Call(op, node, body);
                // LOOKUP of "." and of ".." at the root name the root itself (the guest cannot see above it).
                bool rootItself = op == FuseOpcode.Lookup && cls is "dot" or "dotdot" && a.Error == 0 && a.NodeId == 1;
                if (a.Error == 0 && !rootItself)
                {
                    accepted.Add($"{opcode} with {cls}");
                }
            }
            // Extended attribute names: empty, unterminated, too long (XATTR_NAME_MAX is 255).
            if (cls is "empty" or "no NUL" or "256 bytes" or "5000 bytes")
            {
                if (c.Call(FuseOpcode.SetXattr, f, [.. FuseBytes.Of(new FuseSetXattrIn { Size = 1 }), .. name, (byte)'v']).Error == 0)
                {
                    accepted.Add($"SETXATTR with {cls}");
                }
                if (c.Call(FuseOpcode.GetXattr, f, [.. FuseBytes.Of(new FuseGetXattrIn { Size = 64 }), .. name]).Error == 0)
                {
                    accepted.Add($"GETXATTR with {cls}");
                }
                if (c.Call(FuseOpcode.RemoveXattr, f, name).Error == 0)
                {
                    accepted.Add($"REMOVEXATTR with {cls}");
                }
            }
        }
        Assert.Empty(accepted);
        Assert.Equal(listing, Listing(share));
        Assert.True(File.Exists(share.Host("f")));
        share.AssertOutsideUntouched();
        // LOOKUP of ".." at the root is the root, whatever the sandbox.
        FuseReply up = c.Call(FuseOpcode.Lookup, 1, N(".."));
        Assert.True(up.Error != 0 || up.NodeId == 1, $"LOOKUP .. at the root gave node {up.NodeId}");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Symlinks_and_magic_links_out_of_the_share_lead_nowhere(DeviceKind kind)
    {
        using var share = new EscapeShare();
        using var d = DeviceUnderTest.Start(kind, share.Share);
        FuseDeviceClient c = d.Client;

        // A symlink whose target is an absolute host path is stored as data and never followed.
        Assert.Equal(0, c.Call(FuseOpcode.Symlink, 1, [.. N("abs"), .. N("/etc/passwd")]).Error);
        Assert.Equal("/etc/passwd", new FileInfo(share.Host("abs")).LinkTarget);
        foreach (string link in new[] { "abs", "passwd", "out" })
        {
            ulong node = c.Call(FuseOpcode.Lookup, 1, N(link)).NodeId;
            Assert.Equal(-Errno.ELOOP, c.Call(FuseOpcode.Open, node, FuseBytes.Of(new FuseOpenIn { Flags = (uint)(Libc.O_RDWR | 0x200) })).Error);
            // chmod and truncate of a symlink are refused; a chown changes the link itself (lchown), not its target.
            Assert.NotEqual(0, c.Call(FuseOpcode.SetAttr, node, FuseBytes.Of(new FuseSetAttrIn { Valid = FuseConstants.FattrMode, Mode = 0b111_111_111 })).Error);
            Assert.NotEqual(0, c.Call(FuseOpcode.SetAttr, node, FuseBytes.Of(new FuseSetAttrIn { Valid = FuseConstants.FattrSize })).Error);
            Assert.Equal(0, c.Call(FuseOpcode.SetAttr, node, FuseBytes.Of(new FuseSetAttrIn { Valid = FuseConstants.FattrUid | FuseConstants.FattrGid, Uid = 4321, Gid = 4321 })).Error);
            Assert.Equal(4321u, Stat(share.Host(link)).Uid);
            Assert.NotEqual(0, c.Call(FuseOpcode.GetXattr, node, [.. FuseBytes.Of(new FuseGetXattrIn { Size = 64 }), .. N("trusted.secret")]).Error);
            // LINK of the symlink makes a second name for the link itself, inside the share.
            Assert.Equal(0, c.Call(FuseOpcode.Link, 1, [.. FuseBytes.Of(new FuseLinkIn { OldNodeId = node }), .. N(link + "-hard")]).Error);
            Assert.Equal(Libc.S_IFLNK, Stat(share.Host(link + "-hard")).Mode & Libc.S_IFMT);
        }
        ulong file = c.Call(FuseOpcode.Lookup, 1, N("f")).NodeId;
        // Directories reached through symlinks (/etc, ../outside/dir, /proc/self/root, /proc/self/cwd) are not directories here.
        foreach (string link in new[] { "etc", "outdir", "proc-root", "proc-cwd" })
        {
            ulong node = c.Call(FuseOpcode.Lookup, 1, N(link)).NodeId;
            Assert.Equal(-Errno.ENOTDIR, c.Call(FuseOpcode.Lookup, node, N("passwd")).Error);
            Assert.Equal(-Errno.ENOTDIR, c.Call(FuseOpcode.OpenDir, node, FuseBytes.Of(new FuseOpenIn())).Error);
            Assert.Equal(-Errno.ENOTDIR, c.Call(FuseOpcode.Create, node, [.. FuseBytes.Of(new FuseCreateIn { Flags = (uint)(Libc.O_RDWR | 0x40), Mode = Libc.S_IFREG | 0b110_100_100 }), .. N("x")]).Error);
            Assert.Equal(-Errno.ENOTDIR, c.Call(FuseOpcode.Mknod, node, [.. FuseBytes.Of(new FuseMknodIn { Mode = Libc.S_IFREG | 0b110_100_100 }), .. N("x")]).Error);
            Assert.Equal(-Errno.ENOTDIR, c.Call(FuseOpcode.Mkdir, node, [.. FuseBytes.Of(new FuseMkdirIn { Mode = 0b111_101_101 }), .. N("x")]).Error);
            Assert.Equal(-Errno.ENOTDIR, c.Call(FuseOpcode.Link, node, [.. FuseBytes.Of(new FuseLinkIn { OldNodeId = file }), .. N("x")]).Error);
            Assert.Equal(-Errno.ENOTDIR, c.Call(FuseOpcode.Symlink, node, [.. N("x"), .. N("y")]).Error);
            Assert.Equal(-Errno.ENOTDIR, c.Call(FuseOpcode.Unlink, node, N("passwd")).Error);
            Assert.Equal(-Errno.ELOOP, c.Call(FuseOpcode.Open, node, FuseBytes.Of(new FuseOpenIn())).Error);
        }
        Assert.False(File.Exists("/etc/x"));
        share.AssertOutsideUntouched();
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Special_files_are_never_opened_and_nothing_blocks(DeviceKind kind)
    {
        using var share = new EscapeShare();
        using var d = DeviceUnderTest.Start(kind, share.Share);
        FuseDeviceClient c = d.Client;
        foreach (string special in new[] { "p", "null", "s" })
        {
            ulong node = c.Call(FuseOpcode.Lookup, 1, N(special)).NodeId;
            foreach (int flags in new[] { Libc.O_RDONLY, Libc.O_WRONLY, Libc.O_RDWR | 0x200 })
            {
                // Any refusal will do, as long as it comes back: opening a FIFO without a peer would block the daemon.
                Assert.NotEqual(0, c.Call(FuseOpcode.Open, node, FuseBytes.Of(new FuseOpenIn { Flags = (uint)flags })).Error);
            }
            // SETATTR and GETXATTR work on the node itself without opening it (chmod of a FIFO is legal).
            Assert.Equal(0, c.Call(FuseOpcode.SetAttr, node, FuseBytes.Of(new FuseSetAttrIn { Valid = FuseConstants.FattrMode, Mode = 0b110_000_000 })).Error);
            Assert.Equal(0b110_000_000u, Stat(share.Host(special)).Mode & 0xfffu);
            int getxattr = c.Call(FuseOpcode.GetXattr, node, [.. FuseBytes.Of(new FuseGetXattrIn { Size = 64 }), .. N("user.x")]).Error;
            Assert.True(getxattr is -Errno.ENODATA or -Errno.EPERM or -Errno.EOPNOTSUPP, $"GETXATTR on {special}: {getxattr}");
            Assert.NotEqual(0, c.Call(FuseOpcode.SetAttr, node, FuseBytes.Of(new FuseSetAttrIn { Valid = FuseConstants.FattrSize })).Error);
        }

        // A regular file swapped for a FIFO between LOOKUP and OPEN: OPEN must not open (and block on) the FIFO.
        File.WriteAllText(share.Host("swap"), "regular");
        ulong swapped = c.Call(FuseOpcode.Lookup, 1, N("swap")).NodeId;
        File.Delete(share.Host("swap"));
        Assert.Equal(0, Libc.Mknodat(Libc.AT_FDCWD, P(share.Host("swap")), Libc.S_IFIFO | 0b110_110_110, 0));
        FuseReply open = c.Call(FuseOpcode.Open, swapped, FuseBytes.Of(new FuseOpenIn { Flags = (uint)Libc.O_RDWR }));
        if (open.Error == 0)
        {
            // Then it is the file LOOKUP found (still open as the node's O_PATH), never the FIFO.
            FuseReply read = c.Call(FuseOpcode.Read, swapped, FuseBytes.Of(new FuseReadIn { Fh = open.Fh, Size = 64 }));
            Assert.Equal(0, read.Error);
            Assert.Equal("regular"u8.ToArray(), read.Body);
        }
        // And a fresh LOOKUP sees the FIFO, which OPEN refuses.
        ulong fifo = c.Call(FuseOpcode.Lookup, 1, N("swap")).NodeId;
        Assert.NotEqual(0, c.Call(FuseOpcode.Open, fifo, FuseBytes.Of(new FuseOpenIn { Flags = (uint)Libc.O_RDONLY })).Error);
        share.AssertOutsideUntouched();
    }

    private static string Listing(EscapeShare share)
        => string.Join(',', Directory.EnumerateFileSystemEntries(share.Share).Select(Path.GetFileName).Order(StringComparer.Ordinal));
}

/// <summary>Device tests that start daemons run one class at a time (each starts several processes).</summary>
[CollectionDefinition(Name)]
public sealed class EscapeCollection
{
    public const string Name = "Escape attempts through the device";
}
