namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// --xattrmap: how the guest's extended attribute names and the host's differ, with the rule grammar of virtiofsd
/// (doc/xattr-mapping.md of the Rust daemon, docs/tools/virtiofsd.rst of QEMU). Each rule is
/// <c>SEP type SEP scope SEP key SEP prepend SEP</c> with a separator of its choice (its first character), rules
/// separated by white space; the first rule that matches decides:
/// <list type="bullet">
/// <item><c>prefix</c>: a client name starting with <c>key</c> gets <c>prepend</c> put in front; a server name
/// starting with <c>prepend</c> loses it in LISTXATTR.</item>
/// <item><c>ok</c>: passes unchanged; <c>bad</c>: the client gets EPERM, the server name is hidden;
/// <c>unsupported</c>: the client gets ENOTSUP, the server name is hidden.</item>
/// <item><c>map SEP key SEP prepend SEP</c> (last rule only): the common namespace mapping, expanded as QEMU's
/// virtiofsd does to prefix:all:key:prepend, then (with a key) bad:server::key, bad:client:prepend:,
/// ok:all::: , or (without one) bad:all:::.</item>
/// </list>
/// Scopes are <c>client</c> (names in SETXATTR, GETXATTR, REMOVEXATTR and security labels), <c>server</c>
/// (names LISTXATTR returns) or <c>all</c>. A name no rule matches is refused (client) or hidden (server).
/// </summary>
public sealed class XattrMap
{
    private const int ClientScope = 1;
    private const int ServerScope = 2;

    private readonly Rule[] _rules;

    private XattrMap(Rule[] rules) => _rules = rules;

    /// <summary>The result of mapping a client name.</summary>
    public enum Verdict
    {
        Pass,
        Deny,
        Unsupported,
    }

    private enum Kind
    {
        Prefix,
        Ok,
        Bad,
        Unsupported,
    }

    private readonly record struct Rule(Kind Kind, int Scope, byte[] Key, byte[] Prepend);

    /// <summary>Parses a mapping; null with the reason when malformed.</summary>
    public static XattrMap? Parse(string text, out string? error)
    {
        error = null;
        var rules = new List<Rule>();
        int i = 0, number = 0;
        bool sawMap = false;
        while (true)
        {
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }
            if (i == text.Length)
            {
                break;
            }
            number++;
            if (sawMap)
            {
                error = $"rule {number}: a 'map' rule must be the last one";
                return null;
            }
            char sep = text[i++];
            List<string>? fields = Fields(text, sep, ref i, 2);
            if (fields is null)
            {
                error = $"rule {number}: incomplete (every field ends with the separator '{sep}')";
                return null;
            }
            if (fields[0] == "map")
            {
                List<string>? more = Fields(text, sep, ref i, 1);
                if (more is null)
                {
                    error = $"rule {number}: incomplete 'map' rule (map{sep}key{sep}prepend{sep})";
                    return null;
                }
                ExpandMap(rules, fields[1], more[0]);
                sawMap = true;
                continue;
            }
            Kind? kind = fields[0] switch
            {
                "prefix" => Kind.Prefix,
                "ok" => Kind.Ok,
                "bad" => Kind.Bad,
                "unsupported" => Kind.Unsupported,
                _ => null,
            };
            int scope = fields[1] switch
            {
                "client" => ClientScope,
                "server" => ServerScope,
                "all" => ClientScope | ServerScope,
                _ => 0,
            };
            if (kind is null || scope == 0)
            {
                error = kind is null
                    ? $"rule {number}: unknown type '{fields[0]}' (expected prefix, ok, bad, unsupported or map)"
                    : $"rule {number}: unknown scope '{fields[1]}' (expected client, server or all)";
                return null;
            }
            List<string>? names = Fields(text, sep, ref i, 2);
            if (names is null)
            {
                error = $"rule {number}: incomplete (type{sep}scope{sep}key{sep}prepend{sep})";
                return null;
            }
            rules.Add(new Rule(kind.Value, scope, Bytes(names[0]), Bytes(names[1])));
        }
        if (rules.Count == 0)
        {
            error = "no rules";
            return null;
        }
        return new XattrMap([.. rules]);
    }

    /// <summary>The host name for a client's name, or Deny / Unsupported.</summary>
    public Verdict MapClient(ReadOnlySpan<byte> name, out byte[] hostName)
    {
        hostName = [];
        foreach (Rule r in _rules)
        {
            if ((r.Scope & ClientScope) == 0 || !name.StartsWith(r.Key))
            {
                continue;
            }
            switch (r.Kind)
            {
                case Kind.Bad:
                    return Verdict.Deny;
                case Kind.Unsupported:
                    return Verdict.Unsupported;
                case Kind.Prefix:
                    hostName = [.. r.Prepend, .. name];
                    return Verdict.Pass;
                default:
                    hostName = name.ToArray();
                    return Verdict.Pass;
            }
        }
        return Verdict.Deny;
    }

    /// <summary>
    /// Rewrites a LISTXATTR result in place (NUL-terminated names): hidden names dropped, prefixes stripped.
    /// Returns the new length.
    /// </summary>
    public int MapServerList(Span<byte> list)
    {
        int write = 0;
        int read = 0;
        while (read < list.Length)
        {
            int nul = list[read..].IndexOf((byte)0);
            int end = nul < 0 ? list.Length : read + nul;
            int start = read;
            read = end + 1;
            if (end == start)
            {
                continue;
            }
            int keep = ServerName(list[start..end]);
            if (keep < 0)
            {
                continue;
            }
            // Moving left within one buffer: Span.CopyTo copies overlapping ranges correctly.
            list[(start + keep)..end].CopyTo(list[write..]);
            write += end - start - keep;
            list[write++] = 0;
        }
        return write;
    }

    /// <summary>How many leading bytes of a host name to strip, or -1 to hide it.</summary>
    private int ServerName(ReadOnlySpan<byte> name)
    {
        foreach (Rule r in _rules)
        {
            if ((r.Scope & ServerScope) == 0 || !name.StartsWith(r.Prepend))
            {
                continue;
            }
            return r.Kind switch
            {
                Kind.Prefix => name.Length > r.Prepend.Length ? r.Prepend.Length : -1,
                Kind.Ok => 0,
                _ => -1,
            };
        }
        return -1;
    }

    private static void ExpandMap(List<Rule> rules, string key, string prepend)
    {
        rules.Add(new Rule(Kind.Prefix, ClientScope | ServerScope, Bytes(key), Bytes(prepend)));
        if (key.Length == 0)
        {
            // Everything is prefixed: host names without the prefix are hidden.
            rules.Add(new Rule(Kind.Bad, ClientScope | ServerScope, [], []));
            return;
        }
        // Host names in the guest's namespace without the prefix are hidden, the guest cannot name the prefixed
        // names directly, and everything else passes.
        rules.Add(new Rule(Kind.Bad, ServerScope, [], Bytes(key)));
        rules.Add(new Rule(Kind.Bad, ClientScope, Bytes(prepend), []));
        rules.Add(new Rule(Kind.Ok, ClientScope | ServerScope, [], []));
    }

    private static List<string>? Fields(string text, char sep, ref int i, int count)
    {
        var fields = new List<string>(count);
        for (int f = 0; f < count; f++)
        {
            int end = text.IndexOf(sep, i);
            if (end < 0)
            {
                return null;
            }
            fields.Add(text[i..end]);
            i = end + 1;
        }
        return fields;
    }

    private static byte[] Bytes(string s) => System.Text.Encoding.UTF8.GetBytes(s);
}
