using Serilog;
using VirtioFsd.Fuse.Migration;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Passthrough.Migration;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Fuse.Server.Migration;
using VirtioFsd.Linux;
using VirtioFsd.VhostUser;

namespace VirtioFsd.Device.Migration;

/// <summary>
/// The virtio-fs device's internal state for live migration, as one stream (docs/migration.md): the FUSE session the
/// guest negotiated, then the filesystem's nodes and open handles. Saved on the source, loaded on the destination
/// before its queues start; the guest sends no INIT and notices nothing.
/// </summary>
internal sealed class VirtioFsDeviceState : IDeviceState
{
    private readonly FuseServer _server;
    private readonly PassthroughFileSystem _fs;
    private readonly ILogger _log;

    public VirtioFsDeviceState(FuseServer server, PassthroughFileSystem fs, ILogger log)
    {
        _server = server;
        _fs = fs;
        _log = log.ForContext<VirtioFsDeviceState>();
    }

    /// <summary>1 GiB: 16 Mi nodes with paths of ~60 bytes; a bigger stream is refused unread.</summary>
    public long MaxStateBytes => 1L << 30;

    public byte[]? Save()
    {
        if (_fs.MigrationStateFormat == MigrationStateFormat.Rust113)
        {
            return SaveRust();
        }
        var writer = new StateWriter();
        FuseSessionState? session = _server.ExportSession();
        writer.Bool(session is not null);
        session?.Write(writer);
        string? problem = _fs.SaveState(writer);
        if (problem is not null)
        {
            _log.Error("Migration refused on the source: {Problem}; the guest keeps running here", problem);
            return null;
        }
        return writer.Finish();
    }

    /// <summary>The state for a Rust virtiofsd 1.13 destination (--migration-state-format rust-1.13).</summary>
    private byte[]? SaveRust()
    {
        string? problem = _server.ExportRustSession(out var session);
        byte[]? bytes = null;
        problem ??= _fs.SaveRustState(new RustNegotiatedOptions(session.Writeback, session.AnnounceSubmounts, session.PosixAcl,
            session.SupGroupExtension), out bytes);
        if (problem is not null)
        {
            _log.Error("Migration refused on the source: {Problem}; the guest keeps running here", problem);
            return null;
        }
        return bytes;
    }

    public int Load(ReadOnlySpan<byte> state)
    {
        string? problem;
        try
        {
            if (!state.StartsWith(StateFormat.Magic))
            {
                // Not ours: a Rust virtiofsd 1.13's state is the only other one this daemon reads (its stream has no
                // magic: it starts with its version's variant index).
                problem = LoadRust(state.ToArray());
                if (problem is not null)
                {
                    _log.Error("Migration state refused: {Problem}", problem);
                    return -Errno.EINVAL;
                }
                return 0;
            }
            var reader = new StateReader(state.ToArray());
            FuseSessionState? session = reader.Bool("session flag") ? FuseSessionState.Read(reader) : null;
            problem = session is null ? null : _server.CheckImport(session);
            problem ??= _fs.LoadState(reader);
            if (problem is null && session is not null && _server.Import(session) is { } refused)
            {
                _fs.Destroy();
                problem = refused;
            }
        }
        catch (StateFormatException e)
        {
            problem = $"malformed state: {e.Message}";
        }
        if (problem is not null)
        {
            _log.Error("Migration state refused: {Problem}", problem);
            return -Errno.EINVAL;
        }
        return 0;
    }

    /// <summary>Takes over a Rust virtiofsd 1.13's state: null, or why not. A state neither ours nor theirs is malformed.</summary>
    private string? LoadRust(byte[] bytes)
    {
        RustState rust;
        try
        {
            rust = RustState.Read(bytes);
        }
        catch (StateFormatException e)
        {
            return $"malformed state: it does not start with this daemon's magic, and is no Rust virtiofsd 1.13 state either ({e.Message})";
        }
        try
        {
            // Their source sends no root (nor anything else) when the guest has not mounted: then there is no session.
            RustNegotiatedOptions n = rust.Negotiated;
            FuseSessionState? session = rust.Inodes.Count == 0 ? null
                : _server.AssumeRustSession(n.Writeback, n.AnnounceSubmounts, n.PosixAcl, n.SupGroupExtension);
            string? problem = session is null ? null : _server.CheckImport(session);
            problem ??= _fs.LoadRustState(rust);
            if (problem is null && session is not null && _server.Import(session) is { } refused)
            {
                _fs.Destroy();
                problem = refused;
            }
            return problem;
        }
        catch (StateFormatException e)
        {
            return $"malformed Rust virtiofsd 1.13 state: {e.Message}";
        }
    }
}
