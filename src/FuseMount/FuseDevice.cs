using System.Globalization;
using VirtioFsd.Linux;

namespace VirtioFsd.FuseMount;

/// <summary>
/// The kernel side of a host FUSE mount: a /dev/fuse descriptor, mount(2) of it on a directory, and the
/// ways to end it (umount2, and the fusectl abort for a lazily detached mount that stays busy).
/// </summary>
internal static class FuseDevice
{
    /// <summary>fusectl's mount point (Documentation/filesystems/fuse.rst, "Control filesystem").</summary>
    private const string ConnectionsDir = "/sys/fs/fuse/connections";

    /// <summary>
    /// Opens /dev/fuse non-blocking: readers poll it together with a stop eventfd, so a stop never waits
    /// for the next request. Returns the fd or -errno.
    /// </summary>
    public static int Open() => Libc.OpenAbsolute("/dev/fuse", Libc.O_RDWR | Libc.O_CLOEXEC | Libc.O_NONBLOCK);

    /// <summary>
    /// mount(2) of the connection on <paramref name="mountPoint"/> as root. The options are those a
    /// virtio-fs mount gets from the kernel (fs/fuse/virtio_fs.c: default_permissions, allow_other), so
    /// the same server sees the same requests; nosuid and nodev because the share is host data.
    /// </summary>
    public static int Mount(int fd, string source, string mountPoint, uint maxRead)
    {
        string data = string.Create(CultureInfo.InvariantCulture,
            $"fd={fd},rootmode=40000,user_id=0,group_id=0,default_permissions,allow_other,max_read={maxRead}");
        return Libc.Mount(source, mountPoint, "fuse.virtiofsd", Libc.MS_NOSUID | Libc.MS_NODEV, data);
    }

    /// <summary>
    /// The connection's number under /sys/fs/fuse/connections: fuse_ctl_add_conn names it "%u" of the
    /// superblock's dev_t, MKDEV(0, minor) for FUSE's anonymous device, i.e. the minor in
    /// /proc/self/mountinfo's "major:minor" field. -1 when the mount point is not found.
    /// </summary>
    public static long ConnectionId(string mountPoint)
    {
        string? id = null;
        foreach (string line in File.ReadLines("/proc/self/mountinfo"))
        {
            // mountinfo: id parent major:minor root mountpoint ...; the last mount on the path is the visible one.
            string[] f = line.Split(' ');
            if (f.Length > 4 && f[4] == mountPoint)
            {
                id = f[2];
            }
        }
        return id is not null && id.Split(':') is [_, string minor] && long.TryParse(minor, CultureInfo.InvariantCulture, out long m) ? m : -1;
    }

    /// <summary>
    /// Aborts the connection through fusectl (mounting fusectl first if nobody has): every pending and
    /// future request fails with ENOTCONN and the readers see ENODEV. Returns 0 or -errno.
    /// </summary>
    public static int Abort(long connectionId)
    {
        string abort = Path.Combine(ConnectionsDir, connectionId.ToString(CultureInfo.InvariantCulture), "abort");
        if (!File.Exists(abort) && Directory.Exists(ConnectionsDir))
        {
            Libc.Mount("fusectl", ConnectionsDir, "fusectl", 0);
        }
        int fd = Libc.OpenAbsolute(abort, Libc.O_WRONLY | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            return fd;
        }
        long w = Libc.Write(fd, "1"u8);
        Libc.Close(fd);
        return w < 0 ? (int)w : 0;
    }
}
