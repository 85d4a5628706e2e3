using System.Buffers.Binary;
using VirtioFsd.Bench.Client;
using VirtioFsd.Bench.Fuse;

namespace VirtioFsd.Bench.Workloads;

/// <summary>
/// A full listing of a directory: OPENDIR, READDIRPLUS until an empty reply, RELEASEDIR — one operation.
/// Each reply's fuse_direntplus records are walked to find the next offset and count the entries.
/// </summary>
public sealed class ReaddirplusProgram(ulong dir, int bufferBytes, int expectedEntries) : IWorkloadProgram
{
    private const int Done = 1_000_000; // a stage no listing reaches by counting replies

    /// <summary>Entries seen across all completed listings.</summary>
    public long Entries { get; private set; }

    public Step Begin(Slot slot, RequestContext context)
    {
        slot.Offset = 0;
        slot.Node = 0;
        int n = FuseRequestWriter.Open(context.Scratch, FuseOpcode.Opendir, context.NextUnique(slot), dir, 0x10000 /* O_DIRECTORY */);
        context.Commit(slot, n);
        return new Step(n, 0, FuseSize.OpenOut, 0);
    }

    public bool Continue(Slot slot, RequestContext context, ReadOnlySpan<byte> replyArgs, uint replyLength, out Step next)
    {
        next = default;
        if (slot.Stage == Done + 1)
        {
            return false; // RELEASEDIR answered
        }
        if (slot.Stage == 1)
        {
            slot.Fh = FuseReply.OpenFh(replyArgs);
        }
        else
        {
            int bytes = (int)replyLength - FuseSize.OutHeader;
            if (bytes == 0)
            {
                if ((long)slot.Node < expectedEntries)
                {
                    throw new BenchException($"READDIRPLUS listed {slot.Node} entries, expected at least {expectedEntries}");
                }
                Entries += (long)slot.Node;
                slot.Stage = Done;
                int r = FuseRequestWriter.Release(context.Scratch, FuseOpcode.Releasedir, context.NextUnique(slot), dir, slot.Fh, 0);
                context.Commit(slot, r);
                next = new Step(r, 0, 0, 0);
                return true;
            }
            Walk(context.PayloadSpan(slot, bytes), slot);
        }
        int n = FuseRequestWriter.Read(context.Scratch, FuseOpcode.Readdirplus, context.NextUnique(slot), dir, slot.Fh, slot.Offset, (uint)bufferBytes);
        context.Commit(slot, n);
        next = new Step(n, 0, 0, bufferBytes);
        return true;
    }

    /// <summary>struct fuse_direntplus: fuse_entry_out, then fuse_dirent {ino, off, namelen, type, name} padded to 8.</summary>
    private static void Walk(ReadOnlySpan<byte> buffer, Slot slot)
    {
        int at = 0;
        while (at + FuseSize.DirentPlusFixed <= buffer.Length)
        {
            ReadOnlySpan<byte> dirent = buffer[(at + FuseSize.EntryOut)..];
            ulong off = BinaryPrimitives.ReadUInt64LittleEndian(dirent[8..]);
            uint nameLength = BinaryPrimitives.ReadUInt32LittleEndian(dirent[16..]);
            int record = (FuseSize.DirentPlusFixed + (int)nameLength + 7) & ~7;
            if (nameLength == 0 || record > buffer.Length - at)
            {
                throw new BenchException("READDIRPLUS reply with a malformed record");
            }
            slot.Offset = off;
            slot.Node++; // entry count of this listing
            at += record;
        }
    }
}
