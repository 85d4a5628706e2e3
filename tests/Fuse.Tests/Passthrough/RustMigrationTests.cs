using System.Text;
using Serilog;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Migration;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Passthrough.Migration;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>
/// The Rust virtiofsd 1.13's migration state (docs/migration.md "The Rust virtiofsd 1.13 and this daemon"): states
/// captured from the real 1.13.2 daemon (the VM test's guest: mig/ with ro.bin, victim.txt and log0.txt held open) are
/// decoded field by field and re-encoded byte for byte, loaded onto a share with the same files (node ids, lookup counts
/// and open handles work), and hostile variants are refused; our own nodes saved in their format load back.
/// </summary>
public sealed class RustMigrationTests : IDisposable
{
    /// <summary>1.13.2, --migration-mode find-paths (the default): PassthroughFs::V2, parent + name locations.</summary>
    internal const string FindPaths = "010801030000020B0101036D6967000301010206706172616D73000405010206726F2E62696E00050101020A76696374696D2E74787400" +
        "06010102086C6F67302E747874000705010206726F2E6D64350008010102057265616479000903010400808004020500808004030600829004470001000100";

    /// <summary>1.13.2, --migration-mode file-handles: handle locations on mount 239, which the mount paths map to ".".</summary>
    internal const string FileHandles = "010801020000020704EF010208C9DFC100888E7A9000030104EF010208C5DFC1004533ECC900040504EF010208C8DFC100CEC4244D0005" +
        "0104EF010208C6DFC100FDEA5F7400060104EF010208B1C8C100F51E52F900070504EF010208C7DFC100429F97FE00080104EF010208B2C8C100ADB37507000904010400" +
        "808004020500808004030600829004480700808004490001000101EF01012E";

    /// <summary>1.13.2, --migration-verify-handles: parent + name locations, each with its file handle to compare.</summary>
    internal const string VerifyHandles = "010801030001CC01020813E0C100B741AF69020B0101036D696701CC01020852E0C1006A0D84C90301010206706172616D7301CC0102" +
        "0892E0C10078DF14E00405010206726F2E62696E01CC01020862E0C10015FFC099050101020A76696374696D2E74787401CC01020882E0C10004878A2F06010102086C6F" +
        "67302E74787401CC010208B3E0C100EEC3596B0705010206726F2E6D643501CC01020872E0C100D92F64260801010205726561647901CC010208C3E0C1007F61496E0903" +
        "010400808004020500808004030600829004500001000100";

    private static readonly RequestContext Root = Share.Root;
    private readonly Share _s = new(o => o with { InodeFileHandles = InodeFileHandleMode.Prefer });
    private readonly List<PassthroughFileSystem> _destinations = [];

    public void Dispose()
    {
        foreach (PassthroughFileSystem fs in _destinations)
        {
            fs.Dispose();
        }
        _s.Dispose();
    }

    private PassthroughFileSystem Destination(MigrationErrorPolicy onError = MigrationErrorPolicy.Abort)
    {
        var fs = new PassthroughFileSystem(new PassthroughOptions
        {
            SharedDirectory = _s.Path,
            InodeFileHandles = InodeFileHandleMode.Prefer,
            Migration = new MigrationOptions { OnError = onError },
        }, new LoggerConfiguration().CreateLogger());
        _destinations.Add(fs);
        return fs;
    }

    /// <summary>The VM test guest's files, so that the captured states name what is there.</summary>
    private void PrepareMig()
    {
        Directory.CreateDirectory(_s.Host("mig"));
        foreach (string name in new[] { "params", "ro.bin", "victim.txt", "log0.txt", "ro.md5", "ready" })
        {
            _s.WriteHost("mig/" + name, name + " content\n");
        }
    }

    private static unsafe byte[] ReadFrom(PassthroughFileSystem fs, NodeId node, HandleId handle, int count)
    {
        byte[] buffer = new byte[count];
        fixed (byte* p = buffer)
        {
            long n = fs.Read(Root, node, handle, 0, [new IoVec((nint)p, (nuint)count)]);
            Assert.True(n >= 0, $"read: {n}");
            return buffer[..(int)n];
        }
    }

    private static unsafe long WriteTo(PassthroughFileSystem fs, NodeId node, HandleId handle, ulong offset, byte[] data)
    {
        fixed (byte* p = data)
        {
            return fs.Write(Root, node, handle, offset, [new IoVec((nint)p, (nuint)data.Length)], 0, false);
        }
    }

    private static RustState Parse(string hex) => RustState.Read(Convert.FromHexString(hex));

    private static RustInode PathInode(ulong id, ulong refcount, ulong parent, string name) =>
        new(id, refcount, RustLocation.Path, parent, name, null, null);

    private static RustState State(IReadOnlyList<RustInode> inodes, IReadOnlyList<RustHandle>? handles = null) =>
        new([new RustInode(1, 2, RustLocation.RootNode, 0, null, null, null), .. inodes], 100, handles ?? [], 100,
            new RustNegotiatedOptions(false, true, false, true), new Dictionary<ulong, string>());

    [Fact]
    public void A_captured_find_paths_state_decodes_field_by_field()
    {
        RustState s = Parse(FindPaths);
        Assert.Equal(8, s.Inodes.Count);
        Assert.Equal(new RustInode(1, 3, RustLocation.RootNode, 0, null, null, null), s.Inodes[0]);
        Assert.Equal(PathInode(2, 11, 1, "mig"), s.Inodes[1]);
        Assert.Equal(["mig", "params", "ro.bin", "victim.txt", "log0.txt", "ro.md5", "ready"], s.Inodes.Skip(1).Select(i => i.Name));
        Assert.All(s.Inodes.Skip(2), i => Assert.Equal(2UL, i.Parent));
        Assert.Equal(9UL, s.NextInode);
        // The guest's three held descriptors: ro.bin and victim.txt read-only, log0.txt appending (O_LARGEFILE is 0x8000).
        Assert.Equal([new RustHandle(1, 4, 0x8000), new RustHandle(2, 5, 0x8000), new RustHandle(3, 6, 0x8401)], s.Handles);
        Assert.Equal(71UL, s.NextHandle);
        Assert.Equal(new RustNegotiatedOptions(Writeback: false, AnnounceSubmounts: true, PosixAcl: false, SupGroupExtension: true), s.Negotiated);
        Assert.Empty(s.MountPaths);
    }

    [Fact]
    public void Captured_file_handle_states_decode_their_handles_and_mount_paths()
    {
        RustState byHandle = Parse(FileHandles);
        RustInode mig = byHandle.Inodes[1];
        Assert.Equal(RustLocation.FileHandle, mig.Location);
        Assert.Equal(239UL, mig.LocationHandle!.MountId);
        Assert.Equal(1, mig.LocationHandle.Type); // FILEID_INO32_GEN
        Assert.Equal(Convert.FromHexString("C9DFC100888E7A90"), mig.LocationHandle.Bytes);
        Assert.Equal(7UL, mig.Refcount); // no parent references in this mode: the guest's lookups
        Assert.Equal(".", Assert.Single(byHandle.MountPaths, p => p.Key == 239).Value);
        Assert.Equal(4, byHandle.Handles.Count);

        RustState verify = Parse(VerifyHandles);
        Assert.All(verify.Inodes, i => Assert.Equal(8, i.VerifyHandle!.Bytes.Length));
        Assert.Equal(204UL, verify.Inodes[0].VerifyHandle!.MountId);
        Assert.Equal("mig", verify.Inodes[1].Name);
    }

    [Theory]
    [InlineData(FindPaths)]
    [InlineData(FileHandles)]
    [InlineData(VerifyHandles)]
    public void Captured_states_encode_back_to_the_same_bytes(string hex)
    {
        Assert.Equal(Convert.FromHexString(hex), Parse(hex).Write());
    }

    [Theory]
    [InlineData(FindPaths)]
    [InlineData(FileHandles)]
    [InlineData(VerifyHandles)]
    public void Every_cut_of_a_captured_state_and_every_byte_after_it_is_refused_as_malformed(string hex)
    {
        byte[] full = Convert.FromHexString(hex);
        for (int n = 0; n < full.Length; n++)
        {
            Assert.Throws<StateFormatException>(() => RustState.Read(full[..n]));
        }
        Assert.Throws<StateFormatException>(() => RustState.Read([.. full, 0]));
    }

    [Fact]
    public void Flipped_bytes_of_a_captured_state_are_refused_or_restore_only_inside_the_share()
    {
        PrepareMig();
        byte[] full = Convert.FromHexString(FindPaths);
        for (int i = 0; i < full.Length; i++)
        {
            foreach (byte flip in new byte[] { 0x01, 0x80, 0xff })
            {
                byte[] changed = [.. full];
                changed[i] ^= flip;
                RustState s;
                try
                {
                    s = RustState.Read(changed);
                }
                catch (StateFormatException)
                {
                    continue;
                }
                PassthroughFileSystem dest = Destination(MigrationErrorPolicy.GuestError);
                try
                {
                    dest.LoadRustState(s);
                }
                catch (StateFormatException)
                {
                }
                dest.Dispose();
                _destinations.Remove(dest);
            }
        }
    }

    [Fact]
    public void A_captured_find_paths_state_restores_the_guests_nodes_lookups_and_open_files()
    {
        PrepareMig();
        PassthroughFileSystem dest = Destination();
        Assert.Null(dest.LoadRustState(Parse(FindPaths)));
        Assert.Equal(8, dest.NodeCount); // the root and the seven inodes
        Assert.Equal(3, dest.HandleCount);

        // Handle 1 is ro.bin (node 4), handle 3 log0.txt opened for appending (node 6).
        Assert.Equal("ro.bin content\n", Encoding.ASCII.GetString(ReadFrom(dest, new NodeId(4), new HandleId(1), 100)));
        Assert.Equal(3, WriteTo(dest, new NodeId(6), new HandleId(3), 0, "new"u8.ToArray()));
        Assert.Equal("log0.txt content\nnew", File.ReadAllText(_s.Host("mig/log0.txt")));
        Assert.Equal(-Errno.EBADF, ReadFrom2(dest, new NodeId(4), new HandleId(71)));

        // mig's refcount 11 is the guest's 5 lookups and the 6 references its children's locations hold.
        dest.Forget(new NodeId(2), 4);
        Assert.Equal(0, dest.GetAttr(Root, new NodeId(2), null, out FileAttr attr));
        Assert.Equal(Libc.S_IFDIR, attr.Mode & Libc.S_IFMT);
        dest.Forget(new NodeId(2), 1);
        Assert.Equal(-Errno.ESTALE, dest.GetAttr(Root, new NodeId(2), null, out _));

        // A lookup of a known inode answers its migrated id; a new one gets an id above every migrated one.
        Assert.Equal(0, dest.Lookup(Root, NodeId.Root, Share.N("mig"), out Entry mig));
        Assert.Equal(0, dest.Lookup(Root, mig.Node, Share.N("ro.bin"), out Entry roBin));
        Assert.Equal(4UL, roBin.Node.Value);
    }

    private static unsafe long ReadFrom2(PassthroughFileSystem fs, NodeId node, HandleId handle)
    {
        byte[] buffer = new byte[16];
        fixed (byte* p = buffer)
        {
            return fs.Read(Root, node, handle, 0, [new IoVec((nint)p, 16)]);
        }
    }

    [Fact]
    public void A_missing_file_refuses_the_state_under_abort_and_is_stale_with_guest_error()
    {
        PrepareMig();
        File.Delete(_s.Host("mig/victim.txt"));
        PassthroughFileSystem strict = Destination();
        string? refused = strict.LoadRustState(Parse(FindPaths));
        Assert.Contains("mig/victim.txt", refused, StringComparison.Ordinal);
        Assert.Equal(1, strict.NodeCount);
        Assert.Equal(0, strict.HandleCount);

        PassthroughFileSystem lenient = Destination(MigrationErrorPolicy.GuestError);
        Assert.Null(lenient.LoadRustState(Parse(FindPaths)));
        Assert.Equal(-Errno.ESTALE, lenient.GetAttr(Root, new NodeId(5), null, out _));
        Assert.Equal(2, lenient.HandleCount); // victim.txt's handle could not be reopened
    }

    [Theory]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("")]
    [InlineData("a/../../etc")]
    public void Names_leading_out_of_the_share_are_refused_like_our_own_paths(string name)
    {
        Directory.CreateDirectory(_s.Host("a"));
        PassthroughFileSystem dest = Destination();
        string? refused = dest.LoadRustState(State([PathInode(2, 1, 1, name)]));
        Assert.Contains("node 2", refused, StringComparison.Ordinal);
        Assert.Contains("cannot be opened below the share", refused, StringComparison.Ordinal);
        Assert.Equal(1, dest.NodeCount);
    }

    [Fact]
    public void Full_paths_and_symlinks_out_of_the_share_are_refused()
    {
        string outside = Path.Combine(Path.GetDirectoryName(_s.Path)!, "rust-outside-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(outside);
        try
        {
            File.CreateSymbolicLink(_s.Host("link"), outside);
            File.WriteAllText(Path.Combine(outside, "secret"), "secret");
            foreach (RustInode inode in new[]
            {
                new RustInode(2, 1, RustLocation.FullPath, 0, "/etc/passwd", null, null),
                new RustInode(2, 1, RustLocation.FullPath, 0, "link/secret", null, null),
                new RustInode(2, 1, RustLocation.FullPath, 0, "../" + Path.GetFileName(outside) + "/secret", null, null),
            })
            {
                PassthroughFileSystem dest = Destination();
                string? refused = dest.LoadRustState(State([inode]));
                Assert.Contains("cannot be opened below the share", refused, StringComparison.Ordinal);
                Assert.Equal(1, dest.NodeCount);
            }
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }

    [Fact]
    public void States_that_contradict_themselves_are_malformed()
    {
        _s.WriteHost("f", "f");
        RustInode f = PathInode(2, 1, 1, "f");
        var cases = new (RustState State, string Why)[]
        {
            (State([f, f]), "appears twice"),
            (State([PathInode(2, 1, 7, "f")]), "does not carry"),
            (State([PathInode(2, 2, 3, "a"), PathInode(3, 2, 2, "b")]), "loop"),
            (State([PathInode(2, 0, 1, "d"), PathInode(3, 1, 2, "f"), PathInode(4, 1, 2, "g")]), "below the 2 references"),
            (State([f], [new RustHandle(1, 9, 0)]), "does not carry"),
            (State([f], [new RustHandle(0, 2, 0)]), "handle id 0"),
            (State([f], [new RustHandle(1, 2, 0), new RustHandle(1, 2, 0)]), "appears twice"),
            (State([new RustInode(2, 1, RustLocation.RootNode, 0, null, null, null)]), "only inode 1"),
            (State([new RustInode(1, 1, RustLocation.FullPath, 0, "f", null, null)]), "only inode 1"),
        };
        foreach ((RustState state, string why) in cases)
        {
            PassthroughFileSystem dest = Destination();
            var e = Assert.Throws<StateFormatException>(() => dest.LoadRustState(state));
            Assert.Contains(why, e.Message, StringComparison.Ordinal);
            Assert.Equal(1, dest.NodeCount);
        }
    }

    [Fact]
    public void A_shared_directory_other_than_the_sources_is_refused_when_the_root_handle_is_given()
    {
        var root = new RustInode(1, 2, RustLocation.RootNode, 0, null, null, new RustFileHandle(5, 1, [1, 2, 3, 4, 5, 6, 7, 8]));
        var state = new RustState([root], 2, [], 1, new RustNegotiatedOptions(false, false, false, false), new Dictionary<ulong, string>());
        Assert.Contains("not the source's", Destination().LoadRustState(state), StringComparison.Ordinal);
    }

    [Fact]
    public void Our_nodes_saved_in_their_format_are_full_paths_without_o_trunc_and_load_back()
    {
        Directory.CreateDirectory(_s.Host("d"));
        _s.WriteHost("d/a.txt", "hello");
        NodeId d = _s.Lookup(NodeId.Root, "d").Node;
        NodeId a = _s.Lookup(d, "a.txt").Node;
        _s.Lookup(d, "a.txt");
        HandleId fh = _s.Open(a, Libc.O_RDWR | Libc.O_TRUNC);
        Assert.Equal(0, _s.Fs.OpenDir(Root, d, 0, out OpenResult dir));
        Assert.Equal(5, _s.Write(a, fh, 0, Encoding.ASCII.GetBytes("HELLO")));

        var negotiated = new RustNegotiatedOptions(true, false, false, true);
        Assert.Null(_s.Fs.SaveRustState(negotiated, out byte[]? bytes));
        RustState s = RustState.Read(bytes!);
        Assert.Equal(new RustInode(1, 2, RustLocation.RootNode, 0, null, null, null), s.Inodes[0]);
        Assert.Contains(new RustInode(d.Value, 1, RustLocation.FullPath, 0, "d", null, null), s.Inodes);
        Assert.Contains(new RustInode(a.Value, 2, RustLocation.FullPath, 0, "d/a.txt", null, null), s.Inodes);
        RustHandle file = Assert.Single(s.Handles, h => h.Id == fh.Value);
        Assert.Equal(0, file.Flags & Libc.O_TRUNC);
        Assert.Equal(Libc.O_RDWR, file.Flags & Libc.O_ACCMODE);
        Assert.NotEqual(0, Assert.Single(s.Handles, h => h.Id == dir.Handle.Value).Flags & Libc.O_DIRECTORY);
        Assert.True(s.NextInode > a.Value && s.NextHandle > dir.Handle.Value);
        Assert.Equal(negotiated, s.Negotiated);

        PassthroughFileSystem dest = Destination();
        Assert.Null(dest.LoadRustState(s));
        Assert.Equal("HELLO", Encoding.ASCII.GetString(ReadFrom(dest, a, fh, 100)));
        var listing = new ListSink(10);
        Assert.Equal(0, dest.ReadDir(Root, d, dir.Handle, 0, listing));
        Assert.Contains(listing.Entries, e => e.Name == "a.txt");
    }
}
