using System.Text;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Linux;
using static VirtioFsd.Fuse.Tests.Passthrough.Share;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>--xattrmap: the grammar and examples of virtiofsd's xattr-mapping documentation, and its effect on the host.</summary>
public class XattrMapTests
{
    private static XattrMap Map(string text) => XattrMap.Parse(text, out string? e) ?? throw new ArgumentException(e);

    private static string Client(XattrMap m, string name) => m.MapClient(Encoding.UTF8.GetBytes(name), out byte[] host) switch
    {
        XattrMap.Verdict.Pass => Encoding.UTF8.GetString(host),
        XattrMap.Verdict.Deny => "EPERM",
        _ => "ENOTSUP",
    };

    private static string[] Server(XattrMap m, params string[] names)
    {
        byte[] list = [.. names.SelectMany(n => Encoding.UTF8.GetBytes(n + "\0"))];
        int len = m.MapServerList(list);
        return Encoding.UTF8.GetString(list, 0, len).Split('\0', StringSplitOptions.RemoveEmptyEntries);
    }

    [Fact]
    public void Example_1_prefixes_everything_and_hides_what_the_host_set_itself()
    {
        XattrMap m = Map(":prefix:all::user.virtiofs.::bad:all:::");
        Assert.Equal("user.virtiofs.security.selinux", Client(m, "security.selinux"));
        Assert.Equal(["security.selinux"], Server(m, "user.virtiofs.security.selinux", "user.host-only", "trusted.x"));
    }

    [Fact]
    public void Example_2_and_the_map_rule_it_spells_out_behave_the_same()
    {
        XattrMap longhand = Map("""
            /prefix/all/trusted./user.virtiofs./
            /bad/server//trusted./
            /bad/client/user.virtiofs.//
            /ok/all///
            """);
        XattrMap map = Map(":map:trusted.:user.virtiofs.:");
        foreach (XattrMap m in new[] { longhand, map })
        {
            Assert.Equal("user.virtiofs.trusted.overlay.opaque", Client(m, "trusted.overlay.opaque"));
            Assert.Equal("EPERM", Client(m, "user.virtiofs.trusted.x"));
            Assert.Equal("user.color", Client(m, "user.color"));
            Assert.Equal(["trusted.overlay.opaque", "user.color"], Server(m, "user.virtiofs.trusted.overlay.opaque", "trusted.host", "user.color"));
        }
    }

    [Fact]
    public void Unsupported_refuses_with_enotsup_and_an_unmatched_name_is_refused_or_hidden()
    {
        XattrMap m = Map(":unsupported:client:security.capability::  :ok:client:user.:: ");
        Assert.Equal("ENOTSUP", Client(m, "security.capability"));
        Assert.Equal("user.a", Client(m, "user.a"));
        Assert.Equal("EPERM", Client(m, "trusted.a"));
        Assert.Empty(Server(m, "user.a"));
    }

    [Theory]
    [InlineData("")]
    [InlineData(":prefix:client:hi")]
    [InlineData(":tomato:all:::")]
    [InlineData(":ok:nowhere:::")]
    [InlineData(":map:a.:b.: :ok:all:::")]
    [InlineData(":map:a.:")]
    public void Malformed_mappings_are_refused(string text)
    {
        Assert.Null(XattrMap.Parse(text, out string? error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Through_the_filesystem_the_guest_sees_its_names_and_the_host_stores_the_mapped_ones()
    {
        // A SELinux-style mapping: the guest's security. names live in trusted.virtiofs. on the host.
        using var s = new Share(o => o with { XattrMap = Map(":map:security.:trusted.virtiofs.:") });
        s.WriteHost("f", "x");
        NodeId f = s.Lookup(NodeId.Root, "f").Node;
        Assert.Equal(0, s.Fs.SetXattr(Root, f, "security.selinux"u8, "system_u:object_r:svirt_t:s0"u8, 0));
        Assert.Equal(0, s.Fs.SetXattr(Root, f, "user.color"u8, "blue"u8, 0));
        Assert.Equal(0, Libc.Setxattr(N(s.Host("f")), "security.host-label"u8, "h"u8, 0));

        byte[] value = new byte[64];
        int n = Libc.Getxattr(N(s.Host("f")), "trusted.virtiofs.security.selinux"u8, value);
        Assert.Equal("system_u:object_r:svirt_t:s0", Encoding.UTF8.GetString(value, 0, n));
        Assert.Equal(28, s.Fs.GetXattr(Root, f, "security.selinux"u8, value));
        Assert.Equal(-Errno.EPERM, s.Fs.GetXattr(Root, f, "trusted.virtiofs.security.selinux"u8, value));

        int size = s.Fs.ListXattr(Root, f, default);
        byte[] list = new byte[size];
        Assert.Equal(size, s.Fs.ListXattr(Root, f, list));
        string[] names = Encoding.UTF8.GetString(list).Split('\0', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["security.selinux", "user.color"], names.Order(StringComparer.Ordinal));
        Assert.Equal(-Errno.ERANGE, s.Fs.ListXattr(Root, f, new byte[size - 1]));
        Assert.Equal(0, s.Fs.RemoveXattr(Root, f, "security.selinux"u8));
        Assert.True(Libc.Getxattr(N(s.Host("f")), "trusted.virtiofs.security.selinux"u8, value) < 0);
    }

    [Fact]
    public void A_name_the_prefix_makes_too_long_for_the_host_is_erange_and_nothing_is_set()
    {
        using var s = new Share(o => o with { XattrMap = Map(":prefix:all::user.virtiofs.:") });
        s.WriteHost("f", "x");
        NodeId f = s.Lookup(NodeId.Root, "f").Node;
        // 250 bytes are a valid guest name; with the 14-byte prefix the host name would pass XATTR_NAME_MAX (255).
        byte[] name = Encoding.UTF8.GetBytes("user." + new string('n', 245));
        Assert.Equal(-Errno.ERANGE, s.Fs.SetXattr(Root, f, name, "v"u8, 0));
        Assert.Equal(-Errno.ERANGE, s.Fs.GetXattr(Root, f, name, new byte[8]));
        Assert.Equal(0, s.Fs.ListXattr(Root, f, default));
    }
}
