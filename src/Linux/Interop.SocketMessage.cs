using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>
/// sendmsg(2) / recvmsg(2) with SCM_RIGHTS ancillary data: vhost-user passes memfds, eventfds and
/// the backend channel as file descriptors attached to a message. Layouts are x86_64 glibc
/// (sys/socket.h: struct msghdr, struct cmsghdr, CMSG_ALIGN to sizeof(size_t)).
/// </summary>
public static unsafe partial class Libc
{
    public const int SCM_RIGHTS = 1;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_CTRUNC = 0x08;
    public const int MSG_TRUNC = 0x20;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int MSG_CMSG_CLOEXEC = 0x40000000;

    /// <summary>Most descriptors one message may carry through these wrappers (the kernel's SCM_MAX_FD is 253).</summary>
    public const int MaxFdsPerMessage = 32;

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name;
        public uint NameLen;
        private readonly uint _pad0;
        public IoVec* Iov;
        public nuint IovLen;
        public void* Control;
        public nuint ControlLen;
        public int Flags;
        private readonly int _pad1;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CmsgHdr
    {
        public nuint Len;
        public int Level;
        public int Type;
    }

    [LibraryImport(Lib, EntryPoint = "sendmsg", SetLastError = true)]
    private static partial nint SendMsgRaw(int fd, MsgHdr* msg, int flags);

    [LibraryImport(Lib, EntryPoint = "recvmsg", SetLastError = true)]
    private static partial nint RecvMsgRaw(int fd, MsgHdr* msg, int flags);

    private static int CmsgAlign(int len) => (len + sizeof(nuint) - 1) & ~(sizeof(nuint) - 1);

    private static int CmsgSpace(int dataLen) => CmsgAlign(sizeof(CmsgHdr)) + CmsgAlign(dataLen);

    /// <summary>
    /// Sends <paramref name="data"/> with <paramref name="fds"/> attached (none when empty), MSG_NOSIGNAL so a
    /// vanished peer is EPIPE and not a signal. Returns bytes sent or -errno; EINTR is retried.
    /// </summary>
    public static long SendMsg(int fd, ReadOnlySpan<byte> data, ReadOnlySpan<int> fds)
    {
        if (fds.Length > MaxFdsPerMessage)
        {
            return -Errno.EINVAL;
        }
        int controlLen = fds.IsEmpty ? 0 : CmsgSpace(fds.Length * sizeof(int));
        byte* control = stackalloc byte[CmsgSpace(MaxFdsPerMessage * sizeof(int))];
        new Span<byte>(control, controlLen).Clear();
        fixed (byte* p = data)
        {
            IoVec iov = new((nint)p, (nuint)data.Length);
            MsgHdr msg = default;
            msg.Iov = &iov;
            msg.IovLen = 1;
            if (controlLen > 0)
            {
                // The control buffer is sized by CmsgSpace for exactly fds.Length ints, so the header and
                // the copied descriptors stay inside it.
                CmsgHdr* c = (CmsgHdr*)control;
                c->Len = (nuint)(CmsgAlign(sizeof(CmsgHdr)) + (fds.Length * sizeof(int)));
                c->Level = SOL_SOCKET;
                c->Type = SCM_RIGHTS;
                fds.CopyTo(new Span<int>(control + CmsgAlign(sizeof(CmsgHdr)), fds.Length));
                msg.Control = control;
                msg.ControlLen = (nuint)controlLen;
            }
            long r;
            do
            {
                r = Check((long)SendMsgRaw(fd, &msg, MSG_NOSIGNAL));
            }
            while (r == -Errno.EINTR);
            return r;
        }
    }

    /// <summary>
    /// Receives into <paramref name="data"/>; descriptors that arrive are stored in <paramref name="fds"/>
    /// (marked close-on-exec) and counted in <paramref name="fdCount"/>. Descriptors beyond the span's
    /// length are closed here, never leaked, and reported through <paramref name="fdsTruncated"/> (as is
    /// the kernel's MSG_CTRUNC). Returns bytes received (0 = orderly EOF) or -errno; EINTR is retried.
    /// </summary>
    public static long RecvMsg(int fd, Span<byte> data, Span<int> fds, out int fdCount, out bool fdsTruncated, int flags = 0)
    {
        fdCount = 0;
        fdsTruncated = false;
        int controlLen = CmsgSpace(MaxFdsPerMessage * sizeof(int));
        byte* control = stackalloc byte[controlLen];
        long r;
        MsgHdr msg;
        fixed (byte* p = data)
        {
            IoVec iov = new((nint)p, (nuint)data.Length);
            do
            {
                new Span<byte>(control, controlLen).Clear();
                msg = default;
                msg.Iov = &iov;
                msg.IovLen = 1;
                msg.Control = control;
                msg.ControlLen = (nuint)controlLen;
                r = Check((long)RecvMsgRaw(fd, &msg, flags | MSG_CMSG_CLOEXEC));
            }
            while (r == -Errno.EINTR);
        }
        if (r < 0)
        {
            return r;
        }
        fdsTruncated = (msg.Flags & MSG_CTRUNC) != 0;
        // Walk the control messages the kernel wrote: it reports the used length in msg.ControlLen and
        // each header's Len; both are bounded against our buffer before any read.
        int offset = 0;
        int used = (int)Math.Min((ulong)msg.ControlLen, (ulong)controlLen);
        while (offset + sizeof(CmsgHdr) <= used)
        {
            CmsgHdr* c = (CmsgHdr*)(control + offset);
            int len = (int)Math.Min((ulong)c->Len, (ulong)(used - offset));
            if (len < sizeof(CmsgHdr))
            {
                break;
            }
            if (c->Level == SOL_SOCKET && c->Type == SCM_RIGHTS)
            {
                int n = (len - CmsgAlign(sizeof(CmsgHdr))) / sizeof(int);
                int* received = (int*)(control + offset + CmsgAlign(sizeof(CmsgHdr)));
                for (int i = 0; i < n; i++)
                {
                    if (fdCount < fds.Length)
                    {
                        fds[fdCount++] = received[i];
                    }
                    else
                    {
                        Close(received[i]);
                        fdsTruncated = true;
                    }
                }
            }
            offset += CmsgAlign(len);
        }
        return r;
    }
}
