using System.Runtime.InteropServices;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;

namespace VirtioFsd.Fuse.Server;

/// <summary>
/// Packs fuse_dirent / fuse_direntplus records into a READDIR(PLUS) reply, each padded to 8 bytes
/// (FUSE_DIRENT_ALIGN), never beyond the size the guest asked for nor the reply buffer.
/// </summary>
internal sealed class DirectoryEntryWriter : IDirectoryEntrySink
{
    private static readonly int DirentSize = Marshal.SizeOf<FuseDirent>();
    private static readonly int DirentPlusSize = Marshal.SizeOf<FuseDirentPlus>();

    /// <summary>The zeros that pad a record to <see cref="FuseConstants.RecordAlignment"/>.</summary>
    private static ReadOnlySpan<byte> Padding => [0, 0, 0, 0, 0, 0, 0, 0];

    private ReplyWriter? writer;
    private long budget;
    private bool plus;
    private EntryTimeouts timeouts;
    private IdTranslation uids = IdTranslation.Identity;
    private IdTranslation gids = IdTranslation.Identity;

    /// <summary>Bytes of entries written.</summary>
    public long Written { get; private set; }

    public void Start(ReplyWriter replyWriter, long size, bool withAttributes, EntryTimeouts entryTimeouts,
        IdTranslation uidTranslation, IdTranslation gidTranslation)
    {
        uids = uidTranslation;
        gids = gidTranslation;
        writer = replyWriter;
        budget = Math.Min(size, replyWriter.Remaining);
        plus = withAttributes;
        timeouts = entryTimeouts;
        Written = 0;
    }

    public void Stop() => writer = null;

    public bool Fits(int nameLength) => nameLength > 0 && nameLength <= FuseConstants.NameMax
        && RecordSize(plus ? DirentPlusSize : DirentSize, nameLength) <= budget - Written;

    public bool TryAdd(ulong ino, ulong nextOffset, uint type, ReadOnlySpan<byte> name)
    {
        var dirent = new FuseDirent { Ino = ino, Off = nextOffset, NameLen = (uint)name.Length, Type = type };
        return TryAddRecord(MemoryMarshal.AsBytes(new ReadOnlySpan<FuseDirent>(in dirent)), name, plus: false);
    }

    public bool TryAddPlus(in Entry entry, ulong nextOffset, uint type, ReadOnlySpan<byte> name)
    {
        var record = new FuseDirentPlus
        {
            EntryOut = entry.Node.Value == 0 ? default : FuseServer.ToEntryOut(entry, timeouts, uids, gids),
            Dirent = new FuseDirent { Ino = entry.Attr.Ino, Off = nextOffset, NameLen = (uint)name.Length, Type = type },
        };
        return TryAddRecord(MemoryMarshal.AsBytes(new ReadOnlySpan<FuseDirentPlus>(in record)), name, plus: true);
    }

    private bool TryAddRecord(ReadOnlySpan<byte> fixedPart, ReadOnlySpan<byte> name, bool plus)
    {
        // A READDIR sink only takes plain entries and a READDIRPLUS sink only "plus" ones: the guest
        // parses the whole reply as one kind.
        if (writer is null || plus != this.plus || name.IsEmpty || name.Length > FuseConstants.NameMax || name.Contains((byte)0))
        {
            return false;
        }

        int size = RecordSize(fixedPart.Length, name.Length);
        if (size > budget - Written)
        {
            return false;
        }

        // Straight into the reply: the fixed part, the name, then the zeros up to the alignment. A listing of 10,000
        // entries took a zeroed stack buffer per entry, cleared and filled it, and copied it again into the reply.
        long start = writer.Length;
        if (!writer.TryWrite(fixedPart) || !writer.TryWrite(name)
            || !writer.TryWrite(Padding[..(size - fixedPart.Length - name.Length)]))
        {
            // Not reached while the budget (at most the reply's room at Start) holds; never leave half a record.
            writer.Truncate(start);
            return false;
        }

        Written += size;
        return true;
    }

    private static int RecordSize(int fixedSize, int nameLength)
        => (fixedSize + nameLength + FuseConstants.RecordAlignment - 1) & ~(FuseConstants.RecordAlignment - 1);
}

/// <summary>Cache timeouts for entry and attribute replies, as fuse_entry_out encodes them.</summary>
internal readonly record struct EntryTimeouts(ulong EntrySeconds, uint EntryNanoseconds, ulong AttrSeconds, uint AttrNanoseconds)
{
    public static EntryTimeouts From(TimeSpan entry, TimeSpan attr) => new(
        (ulong)entry.Ticks / TimeSpan.TicksPerSecond,
        (uint)((ulong)entry.Ticks % TimeSpan.TicksPerSecond * 100),
        (ulong)attr.Ticks / TimeSpan.TicksPerSecond,
        (uint)((ulong)attr.Ticks % TimeSpan.TicksPerSecond * 100));
}
