using VirtioFsd.Fuse.Abi;
using VirtioFsd.Linux;
using static VirtioFsd.Tests.Escape.EscapeShare;

namespace VirtioFsd.Tests.Escape;

/// <summary>
/// Privilege rules through the whole device (in-process, --sandbox none, default sandbox): the
/// supplementary-group SGID repro (CVE-2022-0358), SUID/SGID/capability clearing by a non-root
/// write, truncate or chown, --readonly, and opcodes the session did not negotiate.
/// </summary>
[Collection(EscapeCollection.Name)]
public class DevicePrivilegeTests
{
    private const uint User = 1000;
    private const uint SetUid = 0b100_000_000_000;
    private const uint SetGid = 0b010_000_000_000;

    public static TheoryData<DeviceKind> Kinds => DeviceEscapeTests.Kinds;

    [Theory]
    [MemberData(nameof(Kinds))]
    public void A_non_root_create_in_a_setgid_root_directory_does_not_get_a_root_group_setgid_file(DeviceKind kind)
    {
        using var share = new EscapeShare();
        using var d = DeviceUnderTest.Start(kind, share.Share);
        FuseDeviceClient c = d.Client;
        // mkdir -m 03777 d (mkdir(2) ignores S_ISGID, so coreutils chmods afterwards; so does this).
        ulong dir = c.Call(FuseOpcode.Mkdir, 1, [.. FuseBytes.Of(new FuseMkdirIn { Mode = 0b111_111_111 }), .. N("sgid")]).NodeId;
        Assert.Equal(0, c.Call(FuseOpcode.SetAttr, dir, FuseBytes.Of(new FuseSetAttrIn { Valid = FuseConstants.FattrMode, Mode = 0b011_111_111_111 })).Error);
        Assert.Equal(0u, Stat(share.Host("sgid")).Gid);
        // As uid/gid 1000 with no supplementary groups: open(d/x, O_CREAT|O_EXCL, 02755).
        FuseReply create = c.Call(FuseOpcode.Create, dir,
            [.. FuseBytes.Of(new FuseCreateIn { Flags = (uint)(Libc.O_RDWR | 0x40 | 0x80), Mode = Libc.S_IFREG | 0b010_111_101_101 }), .. N("x")],
            uid: User, gid: User);
        Assert.Equal(0, create.Error);
        Statx st = Stat(share.Host("sgid/x"));
        Assert.Equal(User, st.Uid);
        Assert.False(st.Gid == 0 && (st.Mode & SetGid) != 0, $"uid {User} got a setgid file of group {st.Gid} (mode {Convert.ToString(st.Mode, 8)})");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void A_non_root_write_truncate_or_chown_clears_setuid_setgid_and_file_capabilities(DeviceKind kind)
    {
        using var share = new EscapeShare();
        using var d = DeviceUnderTest.Start(kind, share.Share);
        FuseDeviceClient c = d.Client;
        foreach (string how in new[] { "write", "truncate", "chown" })
        {
            string path = share.Host(how);
            File.WriteAllText(path, "#!/bin/sh\n");
            Assert.Equal(0, Libc.Chown(path, User, User));
            Assert.Equal(0, Libc.Chmod(path, SetUid | SetGid | 0b111_101_101));
            // vfs_cap_data v2 (linux/capability.h): magic 0x02000000, permitted CAP_NET_BIND_SERVICE.
            byte[] capability = new byte[20];
            BitConverter.TryWriteBytes(capability.AsSpan(0), 0x02000000u);
            BitConverter.TryWriteBytes(capability.AsSpan(4), 1u << 10);
            Assert.Equal(0, Libc.Setxattr(P(path), P("security.capability"), capability, 0));

            ulong node = c.Call(FuseOpcode.Lookup, 1, N(how)).NodeId;
            switch (how)
            {
                case "write":
                {
                    ulong fh = c.Call(FuseOpcode.Open, node, FuseBytes.Of(new FuseOpenIn { Flags = (uint)Libc.O_RDWR }), uid: User, gid: User).Fh;
                    // FUSE_WRITE_KILL_SUIDGID: what the guest kernel sets for a writer without CAP_FSETID.
                    Assert.Equal(0, c.Call(FuseOpcode.Write, node,
                        [.. FuseBytes.Of(new FuseWriteIn { Fh = fh, Size = 2, WriteFlags = FuseConstants.WriteKillSuidgid }), .. "x\n"u8],
                        uid: User, gid: User).Error);
                    break;
                }
                case "truncate":
                    Assert.Equal(0, c.Call(FuseOpcode.SetAttr, node, FuseBytes.Of(new FuseSetAttrIn { Valid = FuseConstants.FattrSize, Size = 1 }), uid: User, gid: User).Error);
                    break;
                default:
                    Assert.Equal(0, c.Call(FuseOpcode.SetAttr, node, FuseBytes.Of(new FuseSetAttrIn { Valid = FuseConstants.FattrGid, Gid = User }), uid: User, gid: User).Error);
                    break;
            }
            Statx st = Stat(path);
            Assert.True((st.Mode & (SetUid | SetGid)) == 0, $"{how} by uid {User} left mode {Convert.ToString(st.Mode, 8)}");
            Assert.Equal(-Errno.ENODATA, Libc.Getxattr(P(path), P("security.capability"), new byte[64]));
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Readonly_refuses_every_write_class_opcode_with_erofs(DeviceKind kind)
    {
        using var share = new EscapeShare();
        Assert.Equal(0, Libc.Setxattr(P(share.Host("f")), P("user.keep"), "1"u8, 0));
        string before = Tree(share);
        using var d = DeviceUnderTest.Start(kind, share.Share, readOnly: true);
        FuseDeviceClient c = d.Client;
        ulong f = c.Call(FuseOpcode.Lookup, 1, N("f")).NodeId;
        ulong dir = c.Call(FuseOpcode.Lookup, 1, N("d")).NodeId;
        ulong fh = c.Call(FuseOpcode.Open, f, FuseBytes.Of(new FuseOpenIn { Flags = (uint)Libc.O_RDONLY })).Fh;
        var writes = new (string Name, FuseOpcode Op, ulong Node, byte[] Body)[]
        {
            ("SETATTR mode", FuseOpcode.SetAttr, f, FuseBytes.Of(new FuseSetAttrIn { Valid = FuseConstants.FattrMode, Mode = 0b111_111_111 })),
            ("SETATTR size", FuseOpcode.SetAttr, f, FuseBytes.Of(new FuseSetAttrIn { Valid = FuseConstants.FattrSize })),
            ("SETATTR times", FuseOpcode.SetAttr, f, FuseBytes.Of(new FuseSetAttrIn { Valid = FuseConstants.FattrAtimeNow | FuseConstants.FattrMtimeNow })),
            ("SYMLINK", FuseOpcode.Symlink, 1, [.. N("l"), .. N("f")]),
            ("MKNOD", FuseOpcode.Mknod, 1, [.. FuseBytes.Of(new FuseMknodIn { Mode = Libc.S_IFREG | 0b110_100_100 }), .. N("n")]),
            ("MKDIR", FuseOpcode.Mkdir, 1, [.. FuseBytes.Of(new FuseMkdirIn { Mode = 0b111_101_101 }), .. N("m")]),
            ("UNLINK", FuseOpcode.Unlink, 1, N("f")),
            ("RMDIR", FuseOpcode.Rmdir, 1, N("d")),
            ("RENAME", FuseOpcode.Rename, 1, [.. FuseBytes.Of(new FuseRenameIn { NewDir = 1 }), .. N("f"), .. N("g")]),
            ("RENAME2", FuseOpcode.Rename2, 1, [.. FuseBytes.Of(new FuseRename2In { NewDir = dir }), .. N("f"), .. N("g")]),
            ("LINK", FuseOpcode.Link, 1, [.. FuseBytes.Of(new FuseLinkIn { OldNodeId = f }), .. N("h")]),
            ("CREATE", FuseOpcode.Create, 1, [.. FuseBytes.Of(new FuseCreateIn { Flags = (uint)(Libc.O_RDWR | 0x40), Mode = Libc.S_IFREG | 0b110_100_100 }), .. N("c")]),
            ("TMPFILE", FuseOpcode.Tmpfile, 1, [.. FuseBytes.Of(new FuseCreateIn { Flags = (uint)Libc.O_RDWR, Mode = Libc.S_IFREG | 0b110_100_100 }), .. N("t")]),
            ("OPEN write", FuseOpcode.Open, f, FuseBytes.Of(new FuseOpenIn { Flags = (uint)Libc.O_WRONLY })),
            ("OPEN rdwr", FuseOpcode.Open, f, FuseBytes.Of(new FuseOpenIn { Flags = (uint)Libc.O_RDWR })),
            ("OPEN trunc", FuseOpcode.Open, f, FuseBytes.Of(new FuseOpenIn { Flags = (uint)(Libc.O_RDONLY | 0x200) })),
            ("WRITE", FuseOpcode.Write, f, [.. FuseBytes.Of(new FuseWriteIn { Fh = fh, Size = 1 }), (byte)'x']),
            ("FALLOCATE", FuseOpcode.Fallocate, f, FuseBytes.Of(new FuseFallocateIn { Fh = fh, Length = 4096 })),
            ("COPY_FILE_RANGE", FuseOpcode.CopyFileRange, f, FuseBytes.Of(new FuseCopyFileRangeIn { FhIn = fh, NodeIdOut = f, FhOut = fh, Len = 4 })),
            ("SETXATTR", FuseOpcode.SetXattr, f, [.. FuseBytes.Of(new FuseSetXattrIn { Size = 1 }), .. N("user.new"), (byte)'v']),
            ("REMOVEXATTR", FuseOpcode.RemoveXattr, f, N("user.keep")),
        };
        var wrong = new List<string>();
        foreach ((string name, FuseOpcode op, ulong node, byte[] body) in writes)
        {
            int error = c.Call(op, node, body).Error;
            if (error != -Errno.EROFS)
            {
                wrong.Add($"{name}: {error}");
            }
        }
        Assert.Empty(wrong);
        // Reads still work.
        Assert.Equal("file content"u8.ToArray(), c.Call(FuseOpcode.Read, f, FuseBytes.Of(new FuseReadIn { Fh = fh, Size = 64 })).Body);
        Assert.Equal(before, Tree(share));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Opcodes_before_init_or_not_negotiated_are_refused(DeviceKind kind)
    {
        using var share = new EscapeShare();
        string before = Tree(share);
        using var d = DeviceUnderTest.Start(kind, share.Share, xattr: false, init: false);
        FuseDeviceClient c = d.Client;
        // Before INIT only INIT is served.
        foreach ((FuseOpcode op, byte[] body) in new (FuseOpcode, byte[])[]
        {
            (FuseOpcode.Lookup, N("f")),
            (FuseOpcode.GetAttr, FuseBytes.Of(new FuseGetAttrIn())),
            (FuseOpcode.Mkdir, [.. FuseBytes.Of(new FuseMkdirIn { Mode = 0b111_101_101 }), .. N("m")]),
            (FuseOpcode.Create, [.. FuseBytes.Of(new FuseCreateIn { Flags = (uint)(Libc.O_RDWR | 0x40), Mode = Libc.S_IFREG | 0b110_100_100 }), .. N("c")]),
            (FuseOpcode.Unlink, N("f")),
            (FuseOpcode.StatFs, []),
        })
        {
            Assert.NotEqual(0, c.Call(op, 1, body).Error);
        }
        Assert.Equal(before, Tree(share));

        // INIT without POSIX_LOCKS and FLOCK_LOCKS: the lock opcodes were not agreed on.
        Assert.Equal(0, c.Init(DeviceUnderTest.GuestFlags & ~(FuseInitFlags.PosixLocks | FuseInitFlags.FlockLocks)).Error);
        ulong f = c.Call(FuseOpcode.Lookup, 1, N("f")).NodeId;
        ulong fh = c.Call(FuseOpcode.Open, f, FuseBytes.Of(new FuseOpenIn { Flags = (uint)Libc.O_RDWR })).Fh;
        var lk = new FuseLkIn { Fh = fh, Owner = 1, Lk = new FuseFileLock { End = 9, Type = 1 } };
        Assert.Equal(-Errno.ENOSYS, c.Call(FuseOpcode.GetLk, f, FuseBytes.Of(lk)).Error);
        Assert.Equal(-Errno.ENOSYS, c.Call(FuseOpcode.SetLk, f, FuseBytes.Of(lk)).Error);
        lk.LkFlags = FuseConstants.LkFlock;
        Assert.Equal(-Errno.ENOSYS, c.Call(FuseOpcode.SetLk, f, FuseBytes.Of(lk)).Error);
        // Extended attributes are off (no --xattr), and an opcode nobody defined is unknown.
        Assert.NotEqual(0, c.Call(FuseOpcode.SetXattr, f, [.. FuseBytes.Of(new FuseSetXattrIn { Size = 1 }), .. N("user.x"), (byte)'v']).Error);
        Assert.Equal(-Errno.ENODATA, Libc.Getxattr(P(share.Host("f")), P("user.x"), new byte[8]));
        Assert.Equal(-Errno.ENOSYS, c.Call((FuseOpcode)4242, 1, []).Error);
    }

    /// <summary>Every entry of the share with type, mode, owner, size, times and xattr names.</summary>
    private static string Tree(EscapeShare share) => string.Join(';', Entries(share.Share).Select(p => Describe(p) + XattrNames(p)));

    /// <summary>Entries below <paramref name="dir"/>, not following symlinks (the share has links to /etc and /proc).</summary>
    private static IEnumerable<string> Entries(string dir)
    {
        foreach (string entry in Directory.EnumerateFileSystemEntries(dir).Order(StringComparer.Ordinal))
        {
            yield return entry;
            if ((Stat(entry).Mode & Libc.S_IFMT) == Libc.S_IFDIR)
            {
                foreach (string below in Entries(entry))
                {
                    yield return below;
                }
            }
        }
    }

    private static string XattrNames(string path)
    {
        byte[] buffer = new byte[4096];
        int n = Libc.ListxattrAt(Libc.AT_FDCWD, P(path), Libc.AT_SYMLINK_NOFOLLOW, buffer);
        return n > 0 ? System.Text.Encoding.UTF8.GetString(buffer, 0, n) : "";
    }
}
