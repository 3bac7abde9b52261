//! Streams in `mmtree serve`: XADD and its trimming, ranges, XREAD, consumer groups, XINFO, and
//! the key commands over a stream. The tables of replies were taken from redis-server 7.0.15
//! (`tests/common`'s `show` format); `streams_answer_as_a_live_redis_server` runs the same
//! commands against a redis-server when one is installed.

mod common;

use common::*;

/// XADD (IDs, NOMKSTREAM, MAXLEN/MINID/LIMIT), XLEN, XRANGE/XREVRANGE (bounds, COUNT), XDEL,
/// XTRIM, XREAD without BLOCK, and their errors.
const BASICS: &[(&str, &str)] = &[
        ("XADD s 1-1 a 1", "1-1"),
        ("XADD s 1-1 a 1", "-ERR The ID specified in XADD is equal or smaller than the target stream top item"),
        ("XADD s 1-0 a 1", "-ERR The ID specified in XADD is equal or smaller than the target stream top item"),
        ("XADD s 0-0 a 1", "-ERR The ID specified in XADD must be greater than 0-0"),
        ("XADD s2 0-0 a 1", "-ERR The ID specified in XADD must be greater than 0-0"),
        ("XADD s 1-* b 2", "1-2"),
        ("XADD s 2-* c 3", "2-0"),
        ("XADD s 5 d 4 e 5", "5-0"),
        ("XADD s 5-1 x", "-ERR wrong number of arguments for 'xadd' command"),
        ("XADD s 5-1 x y z", "-ERR wrong number of arguments for 'xadd' command"),
        ("XADD s NOMKSTREAM 6-0 f 6", "6-0"),
        ("XADD nope NOMKSTREAM * f 6", "nil"),
        ("EXISTS nope", ":0"),
        ("XADD s abc f 6", "-ERR Invalid stream ID specified as stream command argument"),
        ("XADD s 7- f 6", "-ERR Invalid stream ID specified as stream command argument"),
        ("XADD s -7 f 6", "-ERR Invalid stream ID specified as stream command argument"),
        ("XADD s - f 6", "-ERR Invalid stream ID specified as stream command argument"),
        ("XADD s + f 6", "-ERR Invalid stream ID specified as stream command argument"),
        ("XLEN s", ":5"),
        ("XLEN nope", ":0"),
        ("TYPE s", "+stream"),
        ("XRANGE s - +", "[[1-1,[a,1]],[1-2,[b,2]],[2-0,[c,3]],[5-0,[d,4,e,5]],[6-0,[f,6]]]"),
        ("XRANGE s - + COUNT 2", "[[1-1,[a,1]],[1-2,[b,2]]]"),
        ("XRANGE s - + COUNT 0", "nil"),
        ("XRANGE s - + COUNT -1", "nil"),
        ("XRANGE s (1-1 +", "[[1-2,[b,2]],[2-0,[c,3]],[5-0,[d,4,e,5]],[6-0,[f,6]]]"),
        ("XRANGE s 1 1", "[[1-1,[a,1]],[1-2,[b,2]]]"),
        ("XRANGE s 2 5-0", "[[2-0,[c,3]],[5-0,[d,4,e,5]]]"),
        ("XRANGE s (- +", "-ERR Invalid stream ID specified as stream command argument"),
        ("XRANGE s - (+", "-ERR Invalid stream ID specified as stream command argument"),
        ("XRANGE s - (0-0", "-ERR invalid end ID for the interval"),
        ("XRANGE s (18446744073709551615-18446744073709551615 +", "-ERR invalid start ID for the interval"),
        ("XRANGE s x +", "-ERR Invalid stream ID specified as stream command argument"),
        ("XRANGE s - + COUNT", "-ERR syntax error"),
        ("XRANGE s - + FOO 1", "-ERR syntax error"),
        ("XRANGE s - + COUNT x", "-ERR value is not an integer or out of range"),
        ("XRANGE nope - +", "[]"),
        ("XRANGE nope - + COUNT 0", "[]"),
        ("XREVRANGE s + -", "[[6-0,[f,6]],[5-0,[d,4,e,5]],[2-0,[c,3]],[1-2,[b,2]],[1-1,[a,1]]]"),
        ("XREVRANGE s + - COUNT 1", "[[6-0,[f,6]]]"),
        ("XREVRANGE s (5-1 (1-1", "[[5-0,[d,4,e,5]],[2-0,[c,3]],[1-2,[b,2]]]"),
        ("XREVRANGE s 2 1", "[[2-0,[c,3]],[1-2,[b,2]],[1-1,[a,1]]]"),
        ("SET str x", "+OK"),
        ("XRANGE str - +", "-WRONGTYPE Operation against a key holding the wrong kind of value"),
        ("XADD str * a 1", "-WRONGTYPE Operation against a key holding the wrong kind of value"),
        ("XLEN str", "-WRONGTYPE Operation against a key holding the wrong kind of value"),
        ("XDEL s 1-1 9-9 2-0", ":2"),
        ("XDEL s bad", "-ERR Invalid stream ID specified as stream command argument"),
        ("XDEL nope bad", ":0"),
        ("XLEN s", ":3"),
        ("XRANGE s - +", "[[1-2,[b,2]],[5-0,[d,4,e,5]],[6-0,[f,6]]]"),
        ("XTRIM s MAXLEN 2", ":1"),
        ("XRANGE s - +", "[[5-0,[d,4,e,5]],[6-0,[f,6]]]"),
        ("XTRIM s MAXLEN ~ 0", ":2"),
        ("XTRIM s MAXLEN = 1 LIMIT 5", "-ERR syntax error, LIMIT cannot be used without the special ~ option"),
        ("XTRIM s MINID 5-1", ":0"),
        ("XTRIM s", "-ERR wrong number of arguments for 'xtrim' command"),
        ("XTRIM s FOO 1", "-ERR syntax error"),
        ("XTRIM s MAXLEN -1", "-ERR The MAXLEN argument must be >= 0."),
        ("XTRIM s MAXLEN 1 MINID 3", "-ERR syntax error, MAXLEN and MINID options at the same time are not compatible"),
        ("XTRIM nope MAXLEN 0", ":0"),
        ("XTRIM s MAXLEN 0", ":0"),
        ("XLEN s", ":0"),
        ("EXISTS s", ":1"),
        ("XRANGE s - +", "[]"),
        ("XADD s 3-0 a 1", "-ERR The ID specified in XADD is equal or smaller than the target stream top item"),
        ("XADD s * a 1 LIMIT", "-ERR wrong number of arguments for 'xadd' command"),
        ("XADD s MAXLEN 1 LIMIT 1 * a 1", "-ERR syntax error, LIMIT cannot be used without the special ~ option"),
        ("XADD s LIMIT 1 * a 1", "-ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"),
        ("XADD s MAXLEN ~ 1 LIMIT 1 10-0 a 1", "10-0"),
        ("XADD s MINID 9 11-0 a 1", "11-0"),
        ("XRANGE s - +", "[[10-0,[a,1]],[11-0,[a,1]]]"),
        ("XADD s MAXLEN 0 12-0 q 1", "12-0"),
        ("XLEN s", ":0"),
        ("XADD s MAXLEN abc 13-0 q 1", "-ERR value is not an integer or out of range"),
        ("XADD s MAXLEN -1 13-0 q 1", "-ERR The MAXLEN argument must be >= 0."),
        ("XADD s MINID 1-x 13-0 q 1", "-ERR Invalid stream ID specified as stream command argument"),
        ("XADD s 18446744073709551615-18446744073709551615 q 1", "18446744073709551615-18446744073709551615"),
        ("XADD s * q 1", "-ERR The stream has exhausted the last possible ID, unable to add more items"),
        ("XADD s 18446744073709551615-* q 1", "-ERR The stream has exhausted the last possible ID, unable to add more items"),
        ("XREAD STREAMS s 0", "[[s,[[18446744073709551615-18446744073709551615,[q,1]]]]]"),
        ("XREAD COUNT 1 STREAMS s s2 0 0", "[[s,[[18446744073709551615-18446744073709551615,[q,1]]]]]"),
        ("XREAD STREAMS s", "-ERR wrong number of arguments for 'xread' command"),
        ("XREAD STREAMS s >", "-ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."),
        ("XREAD STREAMS nope 0", "nil"),
        ("XREAD STREAMS s $", "nil"),
        ("XREAD GROUP g c STREAMS s 0", "-ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."),
        ("XREAD NOACK STREAMS s 0", "-ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."),
        ("XREAD FOO STREAMS s 0", "-ERR syntax error"),
        ("XREAD COUNT 1", "-ERR wrong number of arguments for 'xread' command"),
];

/// Consumer groups: XGROUP, XREADGROUP (new entries and history), XPENDING, XACK, XCLAIM,
/// XAUTOCLAIM, XINFO GROUPS, and their errors (the replies that hold no time).
const GROUPS: &[(&str, &str)] = &[
        ("XGROUP CREATE s g $", "-ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."),
        ("XGROUP CREATE s g $ MKSTREAM", "+OK"),
        ("XGROUP CREATE s g $ MKSTREAM", "-BUSYGROUP Consumer Group name already exists"),
        ("XGROUP CREATE s g2 0 ENTRIESREAD -2", "-ERR value for ENTRIESREAD must be positive or -1"),
        ("XGROUP CREATE s g2 0 FOO", "-ERR unknown subcommand or wrong number of arguments for 'CREATE'. Try XGROUP HELP."),
        ("XGROUP CREATE s g3 bad", "-ERR Invalid stream ID specified as stream command argument"),
        ("XINFO GROUPS s", "[[name,g,consumers,:0,pending,:0,last-delivered-id,0-0,entries-read,nil,lag,:0]]"),
        ("XADD s 1-0 a 1", "1-0"),
        ("XADD s 2-0 b 2", "2-0"),
        ("XADD s 3-0 c 3", "3-0"),
        ("XADD s 4-0 d 4", "4-0"),
        ("XGROUP CREATE s g0 0", "+OK"),
        ("XINFO GROUPS s", "[[name,g,consumers,:0,pending,:0,last-delivered-id,0-0,entries-read,nil,lag,:4],[name,g0,consumers,:0,pending,:0,last-delivered-id,0-0,entries-read,nil,lag,:4]]"),
        ("XREADGROUP GROUP g0 alice COUNT 1 STREAMS s >", "[[s,[[1-0,[a,1]]]]]"),
        ("XREADGROUP GROUP g0 bob COUNT 2 STREAMS s >", "[[s,[[2-0,[b,2]],[3-0,[c,3]]]]]"),
        ("XINFO GROUPS s", "[[name,g,consumers,:0,pending,:0,last-delivered-id,0-0,entries-read,nil,lag,:4],[name,g0,consumers,:2,pending,:3,last-delivered-id,3-0,entries-read,:3,lag,:1]]"),
        ("XREADGROUP GROUP g0 alice STREAMS s >", "[[s,[[4-0,[d,4]]]]]"),
        ("XREADGROUP GROUP g0 alice STREAMS s 0", "[[s,[[1-0,[a,1]],[4-0,[d,4]]]]]"),
        ("XREADGROUP GROUP g0 bob STREAMS s 0", "[[s,[[2-0,[b,2]],[3-0,[c,3]]]]]"),
        ("XREADGROUP GROUP g0 bob STREAMS s 2-0", "[[s,[[3-0,[c,3]]]]]"),
        ("XREADGROUP GROUP g0 bob STREAMS s $", "-ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."),
        ("XREADGROUP GROUP nog bob STREAMS s >", "-NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option"),
        ("XREADGROUP GROUP g0 bob STREAMS nope >", "-NOGROUP No such key 'nope' or consumer group 'g0' in XREADGROUP with GROUP option"),
        ("XREADGROUP GROUP g0 bob STREAMS s", "-ERR wrong number of arguments for 'xreadgroup' command"),
        ("XREADGROUP STREAMS s >", "-ERR wrong number of arguments for 'xreadgroup' command"),
        ("XPENDING s g0", "[:4,1-0,4-0,[[alice,2],[bob,2]]]"),
        ("XPENDING s nog", "-NOGROUP No such key 's' or consumer group 'nog'"),
        ("XPENDING nope g0", "-NOGROUP No such key 'nope' or consumer group 'g0'"),
        ("XPENDING s g0 - + 10 nobody", "[]"),
        ("XPENDING s g0 - + x", "-ERR value is not an integer or out of range"),
        ("XPENDING s g0 - +", "-ERR syntax error"),
        ("XPENDING s g0 IDLE 5 - +", "-ERR syntax error"),
        ("XACK s g0 1-0 9-0", ":1"),
        ("XACK s g0 1-0", ":0"),
        ("XACK s g0 bad", "-ERR Invalid stream ID specified as stream command argument"),
        ("XACK s nog 1-0", ":0"),
        ("XACK nope g0 1-0", ":0"),
        ("XPENDING s g0", "[:3,2-0,4-0,[[alice,1],[bob,2]]]"),
        ("XINFO GROUPS s", "[[name,g,consumers,:0,pending,:0,last-delivered-id,0-0,entries-read,nil,lag,:4],[name,g0,consumers,:2,pending,:3,last-delivered-id,4-0,entries-read,:4,lag,:0]]"),
        ("XDEL s 2-0", ":1"),
        ("XREADGROUP GROUP g0 bob STREAMS s 0", "[[s,[[2-0,nil],[3-0,[c,3]]]]]"),
        ("XINFO GROUPS s", "[[name,g,consumers,:0,pending,:0,last-delivered-id,0-0,entries-read,nil,lag,nil],[name,g0,consumers,:2,pending,:3,last-delivered-id,4-0,entries-read,:4,lag,:0]]"),
        ("XCLAIM s g0 carol 0 2-0 3-0 JUSTID", "[3-0]"),
        ("XPENDING s g0", "[:2,3-0,4-0,[[alice,1],[carol,1]]]"),
        ("XCLAIM s g0 carol 0 2-0 3-0", "[[3-0,[c,3]]]"),
        ("XPENDING s g0", "[:2,3-0,4-0,[[alice,1],[carol,1]]]"),
        ("XCLAIM s g0 carol 0 4-0 FORCE JUSTID", "[4-0]"),
        ("XCLAIM s g0 carol 0 4-0 FOO", "-ERR Unrecognized XCLAIM option 'FOO'"),
        ("XCLAIM s g0 carol x 4-0", "-ERR Invalid min-idle-time argument for XCLAIM"),
        ("XCLAIM s nog carol 0 4-0", "-NOGROUP No such key 's' or consumer group 'nog'"),
        ("XCLAIM s g0 carol 0 3-0 RETRYCOUNT 7 JUSTID", "[3-0]"),
        ("XCLAIM s g0 carol 0 3-0 LASTID 9-0 JUSTID", "[3-0]"),
        ("XINFO GROUPS s", "[[name,g,consumers,:0,pending,:0,last-delivered-id,0-0,entries-read,nil,lag,nil],[name,g0,consumers,:3,pending,:2,last-delivered-id,9-0,entries-read,:4,lag,:0]]"),
        ("XAUTOCLAIM s g0 dave 0 0 COUNT 1", "[4-0,[[3-0,[c,3]]],[]]"),
        ("XAUTOCLAIM s g0 dave 0 0", "[0-0,[[3-0,[c,3]],[4-0,[d,4]]],[]]"),
        ("XAUTOCLAIM s g0 dave 0 0 JUSTID", "[0-0,[3-0,4-0],[]]"),
        ("XAUTOCLAIM s g0 dave 0 0 COUNT 0", "-ERR COUNT must be > 0"),
        ("XAUTOCLAIM s g0 dave x 0", "-ERR Invalid min-idle-time argument for XAUTOCLAIM"),
        ("XAUTOCLAIM s nog dave 0 0", "-NOGROUP No such key 's' or consumer group 'nog'"),
        ("XAUTOCLAIM s g0 dave 0 (0 FOO", "-ERR syntax error"),
        ("XAUTOCLAIM s g0 dave 1000000 0", "[0-0,[],[]]"),
        ("XGROUP CREATECONSUMER s g0 erin", ":1"),
        ("XGROUP CREATECONSUMER s g0 erin", ":0"),
        ("XGROUP CREATECONSUMER s nog erin", "-NOGROUP No such consumer group 'nog' for key name 's'"),
        ("XGROUP DELCONSUMER s g0 dave", ":2"),
        ("XGROUP DELCONSUMER s g0 dave", ":0"),
        ("XPENDING s g0", "[:0,nil,nil,nil]"),
        ("XGROUP SETID s g0 0", "+OK"),
        ("XGROUP SETID s g0 $ ENTRIESREAD 3", "+OK"),
        ("XGROUP SETID s g0 0 ENTRIESREAD", "-ERR unknown subcommand or wrong number of arguments for 'SETID'. Try XGROUP HELP."),
        ("XGROUP SETID s nog 0", "-NOGROUP No such consumer group 'nog' for key name 's'"),
        ("XINFO GROUPS s", "[[name,g,consumers,:0,pending,:0,last-delivered-id,0-0,entries-read,nil,lag,nil],[name,g0,consumers,:4,pending,:0,last-delivered-id,4-0,entries-read,:3,lag,:1]]"),
        ("XGROUP DESTROY s g0", ":1"),
        ("XGROUP DESTROY s g0", ":0"),
        ("XGROUP DESTROY nope g0", "-ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."),
        ("XINFO GROUPS s", "[[name,g,consumers,:0,pending,:0,last-delivered-id,0-0,entries-read,nil,lag,nil]]"),
        ("XINFO GROUPS nope", "-ERR no such key"),
        ("XINFO CONSUMERS s nog", "-NOGROUP No such consumer group 'nog' for key name 's'"),
        ("XINFO CONSUMERS nope g", "-ERR no such key"),
        ("XGROUP FOO", "-ERR unknown subcommand 'FOO'. Try XGROUP HELP."),
        ("XGROUP HELP", "[+XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:,+CREATE <key> <groupname> <id|$> [option],+    Create a new consumer group. Options are:,+    * MKSTREAM,+      Create the empty stream if it does not exist.,+    * ENTRIESREAD entries_read,+      Set the group's entries_read counter (internal use).,+CREATECONSUMER <key> <groupname> <consumer>,+    Create a new consumer in the specified group.,+DELCONSUMER <key> <groupname> <consumer>,+    Remove the specified consumer.,+DESTROY <key> <groupname>,+    Remove the specified group.,+SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read],+    Set the current group ID and entries_read counter.,+HELP,+    Prints this help.]"),
        ("XINFO HELP", "[+XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:,+CONSUMERS <key> <groupname>,+    Show consumers of <groupname>.,+GROUPS <key>,+    Show the stream consumer groups.,+STREAM <key> [FULL [COUNT <count>],+    Show information about the stream.,+HELP,+    Prints this help.]"),
        ("XINFO FOO", "-ERR unknown subcommand 'FOO'. Try XINFO HELP."),
        ("XGROUP CREATE s", "-ERR wrong number of arguments for 'xgroup|create' command"),
        ("XINFO STREAM nope", "-ERR no such key"),
        ("XINFO STREAM s FULL x", "-ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP."),
];

/// XINFO STREAM (figures Redis gives for small streams).
const INFO: &[(&str, &str)] = &[
        ("XADD s 1-0 a 1", "1-0"),
        ("XINFO STREAM s", "[length,:1,radix-tree-keys,:1,radix-tree-nodes,:2,last-generated-id,1-0,max-deleted-entry-id,0-0,entries-added,:1,recorded-first-entry-id,1-0,groups,:0,first-entry,[1-0,[a,1]],last-entry,[1-0,[a,1]]]"),
        ("XADD s 2-0 b 2", "2-0"),
        ("XADD s 3-0 c 3", "3-0"),
        ("XDEL s 2-0", ":1"),
        ("XINFO STREAM s", "[length,:2,radix-tree-keys,:1,radix-tree-nodes,:2,last-generated-id,3-0,max-deleted-entry-id,2-0,entries-added,:3,recorded-first-entry-id,1-0,groups,:0,first-entry,[1-0,[a,1]],last-entry,[3-0,[c,3]]]"),
        ("XGROUP CREATE s g 0", "+OK"),
        ("XINFO STREAM s", "[length,:2,radix-tree-keys,:1,radix-tree-nodes,:2,last-generated-id,3-0,max-deleted-entry-id,2-0,entries-added,:3,recorded-first-entry-id,1-0,groups,:1,first-entry,[1-0,[a,1]],last-entry,[3-0,[c,3]]]"),
        ("XDEL s 1-0 3-0", ":2"),
        ("XINFO STREAM s", "[length,:0,radix-tree-keys,:0,radix-tree-nodes,:1,last-generated-id,3-0,max-deleted-entry-id,3-0,entries-added,:3,recorded-first-entry-id,0-0,groups,:1,first-entry,nil,last-entry,nil]"),
        ("XADD e MAXLEN 0 1-0 a 1", "1-0"),
        ("XINFO STREAM e", "[length,:0,radix-tree-keys,:0,radix-tree-nodes,:1,last-generated-id,1-0,max-deleted-entry-id,0-0,entries-added,:1,recorded-first-entry-id,0-0,groups,:0,first-entry,nil,last-entry,nil]"),
        ("XINFO STREAM e FULL", "[length,:0,radix-tree-keys,:0,radix-tree-nodes,:1,last-generated-id,1-0,max-deleted-entry-id,0-0,entries-added,:1,recorded-first-entry-id,0-0,entries,[],groups,[]]"),
        ("XINFO STREAM e FULL COUNT", "-ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP."),
        ("XINFO STREAM e FOO", "-ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP."),
        ("XGROUP CREATE big g 0 MKSTREAM", "+OK"),
        ("XINFO STREAM big", "[length,:0,radix-tree-keys,:0,radix-tree-nodes,:1,last-generated-id,0-0,max-deleted-entry-id,0-0,entries-added,:0,recorded-first-entry-id,0-0,groups,:1,first-entry,nil,last-entry,nil]"),
];

/// The key commands carry a stream whole (entries, groups, pending entries): RENAME, COPY,
/// MOVE, SWAPDB, EXPIRE, TYPE, SCAN TYPE, DEL; reads inside MULTI; WRONGTYPE both ways.
const KEYS: &[(&str, &str)] = &[
    ("XADD s 1-0 a 1", "1-0"),
    ("XADD s 2-0 b 2", "2-0"),
    ("XGROUP CREATE s g 0", "+OK"),
    (
        "XREADGROUP GROUP g c STREAMS s >",
        "[[s,[[1-0,[a,1]],[2-0,[b,2]]]]]",
    ),
    ("RENAME s s2", "+OK"),
    ("XRANGE s2 - +", "[[1-0,[a,1]],[2-0,[b,2]]]"),
    (
        "XINFO GROUPS s2",
        "[[name,g,consumers,:1,pending,:2,last-delivered-id,2-0,entries-read,:2,lag,:0]]",
    ),
    ("XPENDING s2 g", "[:2,1-0,2-0,[[c,2]]]"),
    ("COPY s2 s3", ":1"),
    ("XRANGE s3 - +", "[[1-0,[a,1]],[2-0,[b,2]]]"),
    ("XPENDING s3 g", "[:2,1-0,2-0,[[c,2]]]"),
    ("TYPE s3", "+stream"),
    ("SCAN 0 MATCH s3 TYPE stream", "[0,[s3]]"),
    ("DEL s2", ":1"),
    ("EXISTS s2", ":0"),
    ("MOVE s3 1", ":1"),
    ("SELECT 1", "+OK"),
    ("XLEN s3", ":2"),
    (
        "XINFO GROUPS s3",
        "[[name,g,consumers,:1,pending,:2,last-delivered-id,2-0,entries-read,:2,lag,:0]]",
    ),
    ("XADD s3 3-0 c 3", "3-0"),
    ("EXPIRE s3 100", ":1"),
    ("TTL s3", ":100"),
    ("SELECT 0", "+OK"),
    ("SWAPDB 0 1", "+OK"),
    ("XLEN s3", ":3"),
    ("XRANGE s3 - +", "[[1-0,[a,1]],[2-0,[b,2]],[3-0,[c,3]]]"),
    ("MULTI", "+OK"),
    ("XADD m 1-0 a 1", "+QUEUED"),
    ("XRANGE m - +", "+QUEUED"),
    ("XADD m 2-0 b 2", "+QUEUED"),
    ("XREVRANGE m + -", "+QUEUED"),
    ("XREAD STREAMS m 0", "+QUEUED"),
    (
        "EXEC",
        "[1-0,[[1-0,[a,1]]],2-0,[[2-0,[b,2]],[1-0,[a,1]]],[[m,[[1-0,[a,1]],[2-0,[b,2]]]]]]",
    ),
    ("SET str v", "+OK"),
    (
        "XREADGROUP GROUP g c STREAMS str >",
        "-WRONGTYPE Operation against a key holding the wrong kind of value",
    ),
    (
        "XGROUP CREATE str g 0",
        "-WRONGTYPE Operation against a key holding the wrong kind of value",
    ),
    (
        "XINFO STREAM str",
        "-WRONGTYPE Operation against a key holding the wrong kind of value",
    ),
    (
        "XPENDING str g",
        "-WRONGTYPE Operation against a key holding the wrong kind of value",
    ),
    (
        "XACK str g 1-0",
        "-WRONGTYPE Operation against a key holding the wrong kind of value",
    ),
    (
        "XCLAIM str g c 0 1-0",
        "-WRONGTYPE Operation against a key holding the wrong kind of value",
    ),
    (
        "XDEL str 1-0",
        "-WRONGTYPE Operation against a key holding the wrong kind of value",
    ),
    (
        "XTRIM str MAXLEN 0",
        "-WRONGTYPE Operation against a key holding the wrong kind of value",
    ),
    ("HSET h f v", ":1"),
    (
        "XADD h * a 1",
        "-WRONGTYPE Operation against a key holding the wrong kind of value",
    ),
    ("XADD s4 1-0 a 1", "1-0"),
    (
        "HSET s4 f v",
        "-WRONGTYPE Operation against a key holding the wrong kind of value",
    ),
    ("XGROUP DESTROY s4 g", ":0"),
    (
        "XGROUP CREATECONSUMER s4 g c",
        "-NOGROUP No such consumer group 'g' for key name 's4'",
    ),
];

/// RESP3: XREAD and XREADGROUP answer a map of streams, XINFO maps, a null for nothing.
const RESP3: &[(&str, &str)] = &[
        ("XADD s 1-0 a 1", "1-0"),
        ("XADD s 2-0 b 2", "2-0"),
        ("XADD t 1-0 c 3", "1-0"),
        ("XREAD STREAMS s t 0 0", "%[s,[[1-0,[a,1]],[2-0,[b,2]]],t,[[1-0,[c,3]]]]"),
        ("XREAD STREAMS s $", "nil"),
        ("XGROUP CREATE s g 0", "+OK"),
        ("XREADGROUP GROUP g c STREAMS s >", "%[s,[[1-0,[a,1]],[2-0,[b,2]]]]"),
        ("XREADGROUP GROUP g c STREAMS s >", "nil"),
        ("XDEL s 1-0", ":1"),
        ("XREADGROUP GROUP g c STREAMS s 0", "%[s,[[1-0,nil],[2-0,[b,2]]]]"),
        ("XINFO GROUPS s", "[%[name,g,consumers,:1,pending,:2,last-delivered-id,2-0,entries-read,:2,lag,:0]]"),
        ("XINFO STREAM s", "%[length,:1,radix-tree-keys,:1,radix-tree-nodes,:2,last-generated-id,2-0,max-deleted-entry-id,1-0,entries-added,:2,recorded-first-entry-id,2-0,groups,:1,first-entry,[2-0,[b,2]],last-entry,[2-0,[b,2]]]"),
        ("XPENDING s g", "[:2,1-0,2-0,[[c,2]]]"),
        ("XRANGE s - + COUNT 0", "nil"),
];

/// Runs a table on a fresh connection (RESP3 first if `resp3`).
fn run_table(port: u16, rows: &[(&str, &str)], resp3: bool) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut r = Replies::new(&s);
    call(&mut s, &mut r, &["FLUSHALL"]);
    if resp3 {
        call(&mut s, &mut r, &["HELLO", "3"]);
    }
    table(&mut s, &mut r, rows);
}

/// Goal: stream commands answer as redis-server 7.0 does, in RESP2 and RESP3. Method: the
/// tables above, each on a fresh database.
#[test]
fn streams_answer_as_redis() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("streams.mmt"), &[]);
    for rows in [BASICS, GROUPS, INFO, KEYS] {
        run_table(server.port, rows, false);
    }
    run_table(server.port, RESP3, true);
}

/// Goal: the tables are what Redis answers (so the test above compares with Redis, not with
/// what mmtree happened to answer). Method: when `redis-server` is installed, start one on a
/// free port and run the same tables against it.
#[test]
fn streams_answer_as_a_live_redis_server() {
    let Ok(found) = std::process::Command::new("redis-server")
        .arg("--version")
        .output()
    else {
        eprintln!("no redis-server: skipped");
        return;
    };
    if !String::from_utf8_lossy(&found.stdout).contains("v=7.0.") {
        eprintln!("redis-server is not 7.0: skipped");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "redis-server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let outcome = std::panic::catch_unwind(|| {
        for rows in [BASICS, GROUPS, INFO, KEYS] {
            run_table(port, rows, false);
        }
        run_table(port, RESP3, true);
    });
    let _ = redis.kill();
    let _ = redis.wait();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e);
    }
}

/// Goal: approximate trimming (`~`) removes whole nodes of 100 entries as Redis' radix tree
/// does, LIMIT counting in nodes; exact trimming removes exactly. Method: the figures
/// redis-server 7.0.15 gave for the same commands.
#[test]
fn approximate_trimming_removes_whole_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("trim.mmt"), &[]);
    let mut c = server.client();
    let int = |c: &mut redis::Connection, args: &[&str]| cmd::<i64>(c, args).unwrap();
    let mut pipe = redis::pipe();
    for j in 1..=1000 {
        pipe.cmd("XADD")
            .arg("s")
            .arg("MAXLEN")
            .arg("~")
            .arg("555")
            .arg(format!("{j}-0"))
            .arg("xitem")
            .arg(j)
            .ignore();
        pipe.cmd("XADD")
            .arg("t")
            .arg(format!("{j}-0"))
            .arg("xitem")
            .arg(j)
            .ignore();
    }
    for j in 1..=300 {
        pipe.cmd("XADD")
            .arg("u")
            .arg(format!("{j}-0"))
            .arg("xitem")
            .arg(j)
            .ignore();
    }
    for j in (1..300).step_by(3) {
        pipe.cmd("XDEL").arg("u").arg(format!("{j}-0")).ignore();
    }
    let () = pipe.query(&mut c).unwrap();
    assert_eq!(int(&mut c, &["XLEN", "s"]), 600);
    let first: Vec<(String, Vec<String>)> =
        cmd(&mut c, &["XRANGE", "s", "-", "+", "COUNT", "1"]).unwrap();
    assert_eq!(first[0].0, "401-0");
    assert_eq!(
        int(&mut c, &["XTRIM", "t", "MAXLEN", "~", "555", "LIMIT", "30"]),
        0
    );
    assert_eq!(
        int(
            &mut c,
            &["XTRIM", "t", "MAXLEN", "~", "555", "LIMIT", "130"]
        ),
        100
    );
    assert_eq!(int(&mut c, &["XTRIM", "t", "MINID", "~", "750-0"]), 600);
    assert_eq!(int(&mut c, &["XTRIM", "t", "MINID", "750-0"]), 49);
    assert_eq!(int(&mut c, &["XLEN", "t"]), 251);
    // Nodes hold what was added to them: deleted entries leave them smaller.
    assert_eq!(int(&mut c, &["XTRIM", "u", "MAXLEN", "~", "10"]), 133);
    assert_eq!(int(&mut c, &["XLEN", "u"]), 67);
}

/// Goal: idle times and delivery counts move as Redis': XPENDING's IDLE filter, XCLAIM's IDLE,
/// TIME and min-idle-time, XAUTOCLAIM's cursor and claimed entries. Method: times are compared
/// with bounds (a write takes at least a commit), never with the clock's exact value.
#[test]
fn pending_entries_age_and_move_between_consumers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("pel.mmt"), &[]);
    let mut s = server.raw();
    let mut r = Replies::new(&s);
    for id in ["1-0", "2-0", "3-0"] {
        call(&mut s, &mut r, &["XADD", "s", id, "f", "v"]);
    }
    call(&mut s, &mut r, &["XGROUP", "CREATE", "s", "g", "0"]);
    call(
        &mut s,
        &mut r,
        &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">"],
    );
    let pending =
        |s: &mut std::net::TcpStream, r: &mut Replies| -> Vec<(String, String, i64, i64)> {
            let Value::Array(lines) = call(s, r, &["XPENDING", "s", "g", "-", "+", "10"]) else {
                panic!("not an array")
            };
            lines
                .iter()
                .map(|l| match l {
                    Value::Array(f) => match (&f[2], &f[3]) {
                        (Value::Int(idle), Value::Int(n)) => (text(&f[0]), text(&f[1]), *idle, *n),
                        other => panic!("{other:?}"),
                    },
                    other => panic!("{other:?}"),
                })
                .collect()
        };
    let now = pending(&mut s, &mut r);
    assert_eq!(now.len(), 3);
    assert!(now
        .iter()
        .all(|(_, c, idle, n)| c == "alice" && *idle < 60_000 && *n == 1));
    // IDLE 50000: entry 1-0 was delivered 50 s ago; the filter keeps only it.
    let claimed = call(
        &mut s,
        &mut r,
        &[
            "XCLAIM", "s", "g", "bob", "0", "1-0", "IDLE", "50000", "JUSTID",
        ],
    );
    assert_eq!(show(&claimed), "[1-0]");
    let now = pending(&mut s, &mut r);
    assert_eq!(now[0].1, "bob");
    assert!(now[0].2 >= 50_000 && now[0].2 < 110_000, "{now:?}");
    assert_eq!(now[0].3, 1, "JUSTID does not count a delivery");
    let idle = call(
        &mut s,
        &mut r,
        &["XPENDING", "s", "g", "IDLE", "40000", "-", "+", "10"],
    );
    assert_eq!(show(&idle).matches("1-0").count(), 1);
    assert!(!show(&idle).contains("2-0"));
    // min-idle-time: 2-0 is younger than 40 s, so it stays with alice.
    let none = call(
        &mut s,
        &mut r,
        &["XCLAIM", "s", "g", "carl", "40000", "2-0"],
    );
    assert_eq!(show(&none), "[]");
    // XAUTOCLAIM takes the idle one, with its fields, and counts the delivery.
    let auto = call(
        &mut s,
        &mut r,
        &["XAUTOCLAIM", "s", "g", "carl", "40000", "0"],
    );
    assert_eq!(show(&auto), "[0-0,[[1-0,[f,v]]],[]]");
    let now = pending(&mut s, &mut r);
    assert_eq!((now[0].1.as_str(), now[0].3), ("carl", 2));
    assert!(now[0].2 < 40_000);
    // TIME sets the delivery time itself; a time in the future is taken as now.
    call(
        &mut s,
        &mut r,
        &[
            "XCLAIM",
            "s",
            "g",
            "dan",
            "0",
            "3-0",
            "TIME",
            "1",
            "RETRYCOUNT",
            "9",
        ],
    );
    let now = pending(&mut s, &mut r);
    assert_eq!((now[2].1.as_str(), now[2].3), ("dan", 9));
    assert!(now[2].2 > 1_000_000_000);
    // The summary form names each consumer with its count (a bulk string, as Redis).
    let summary = call(&mut s, &mut r, &["XPENDING", "s", "g"]);
    assert_eq!(
        show(&summary),
        ":3,1-0,3-0,[[alice,1],[carl,1],[dan,1]]]".replace(":3,", "[:3,")
    );
    // XINFO CONSUMERS: the four consumers, bob with nothing pending.
    let consumers = show(&call(&mut s, &mut r, &["XINFO", "CONSUMERS", "s", "g"]));
    assert!(
        consumers.contains("[name,bob,pending,:0,idle,:"),
        "{consumers}"
    );
}

/// Goal: `CONFIG SET stream-node-max-entries` sets the node size approximate trimming removes
/// at once, as in Redis (its test suite sets it). Method: the replies redis-server 7.0.15 gave.
#[test]
fn the_node_size_is_a_setting() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("nodes.mmt"), &[]);
    let mut s = server.raw();
    let mut r = Replies::new(&s);
    table(
        &mut s,
        &mut r,
        &[
            ("CONFIG SET stream-node-max-entries 10", "+OK"),
            ("CONFIG GET stream-node-max-entries", "[stream-node-max-entries,10]"),
            ("CONFIG SET stream-node-max-entries -1", "-ERR CONFIG SET failed (possibly related to argument 'stream-node-max-entries') - argument must be between 0 and 9223372036854775807 inclusive"),
        ],
    );
    for j in 1..=100 {
        call(
            &mut s,
            &mut r,
            &["XADD", "s", &format!("{j}-0"), "xitem", "1"],
        );
    }
    table(
        &mut s,
        &mut r,
        &[
            ("XTRIM s MAXLEN ~ 55", ":40"),
            ("XADD s MAXLEN ~ 20 LIMIT 15 101-0 a b", "101-0"),
            ("XLEN s", ":51"),
            ("XTRIM s MAXLEN ~ 0 LIMIT 0", ":51"),
            ("XLEN s", ":0"),
        ],
    );
}

/// Goal: DUMP and RESTORE carry a stream whole (entries, groups, pending entries), OBJECT
/// ENCODING names it as Redis does, and RESTORE refuses a payload whose stream rows break the
/// layout (checked as RESTORE checks the other types). Method: a round trip, then a payload
/// whose pending entry lost its consumer's row (its checksum redone as DUMP makes it).
#[test]
fn dump_and_restore_carry_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("dump.mmt"), &[]);
    let mut c = server.client();
    let _: String = cmd(&mut c, &["XADD", "s", "1-0", "f", "v"]).unwrap();
    let _: () = cmd(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]).unwrap();
    let _: redis::Value = cmd(
        &mut c,
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
    )
    .unwrap();
    let payload: Vec<u8> = cmd(&mut c, &["DUMP", "s"]).unwrap();
    let _: () = redis::cmd("RESTORE")
        .arg("t")
        .arg(0)
        .arg(&payload)
        .query(&mut c)
        .unwrap();
    let mut s = server.raw();
    let mut r = Replies::new(&s);
    table(
        &mut s,
        &mut r,
        &[
            ("XRANGE t - +", "[[1-0,[f,v]]]"),
            ("XPENDING t g", "[:1,1-0,1-0,[[c,1]]]"),
            ("OBJECT ENCODING t", "stream"),
            ("TYPE t", "+stream"),
        ],
    );
    // The same payload without its last row (the consumer's copy of the pending entry): the
    // body is tag, kind, rows; then version (2 bytes) and CRC32C (4 bytes).
    let body = &payload[..payload.len() - 6];
    let version = &payload[payload.len() - 6..payload.len() - 4];
    let last_row = {
        // Rows are (u32 LE len, field, u32 LE len, value) pairs: walk them to find the last.
        let kind_len = usize::from(body[1]);
        let mut at = 2 + kind_len;
        let mut last = at;
        while at < body.len() {
            last = at;
            for _ in 0..2 {
                let len = u32::from_le_bytes(body[at..at + 4].try_into().unwrap()) as usize;
                at += 4 + len;
            }
        }
        last
    };
    let mut broken = body[..last_row].to_vec();
    broken.extend_from_slice(version);
    let crc = crc32c(&broken);
    broken.extend_from_slice(&crc.to_le_bytes());
    let e = redis::cmd("RESTORE")
        .arg("u")
        .arg(0)
        .arg(&broken)
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("Bad data format"), "{e}");
}

/// CRC-32C (Castagnoli), bit by bit (what DUMP's payload ends with).
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Goal: stream commands send Redis 7.0's keyspace events, `new` first for a stream they
/// create. Method: the events redis-server 7.0.15 sent for the same commands.
#[test]
fn stream_commands_send_redis_keyspace_events() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("events.mmt"), &[]);
    let mut c = server.client();
    let _: () = cmd(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEAn"]).unwrap();
    let mut sub = server.raw();
    let mut r = Replies::new(&sub);
    call(&mut sub, &mut r, &["PSUBSCRIBE", "__keyevent@0__:*"]);
    for command in [
        "XADD ns 1-0 f v",
        "XGROUP CREATE ns2 g $ MKSTREAM",
        "XADD ns MAXLEN 0 2-0 f v",
        "XDEL ns 9-0",
        "XGROUP CREATECONSUMER ns2 g c",
        "XGROUP DESTROY ns2 g",
        "SET end 1",
    ] {
        let args: Vec<&str> = command.split(' ').collect();
        let _: redis::Value = cmd(&mut c, &args).unwrap();
    }
    assert_eq!(
        keyevents_until(&mut r, "end"),
        [
            "new:ns",
            "xadd:ns",
            "new:ns2",
            "xgroup-create:ns2",
            "xadd:ns",
            "xtrim:ns",
            "xgroup-createconsumer:ns2",
            "xgroup-destroy:ns2",
        ]
    );
}

/// Waits until the server holds exactly `n` clients blocked (INFO's `blocked_clients`, as Redis'
/// `wait_for_blocked_clients_count`; the bound only stops a broken server from hanging the test).
fn wait_blocked(s: &mut std::net::TcpStream, r: &mut Replies, n: u64) {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let info = text(&call(s, r, &["INFO", "clients"]));
        let blocked = info
            .lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .and_then(|n| n.trim().parse::<u64>().ok());
        if blocked == Some(n) {
            return;
        }
        assert!(
            std::time::Instant::now() < give_up,
            "never {n} blocked clients"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Goal: XREAD and XREADGROUP with BLOCK wait for entries as Redis 7.0's do: served by the XADD
/// of another connection (only the key that got entries, the entries after the ID `$` stood
/// for), nil at the timeout, nil at once inside MULTI; a blocked XREADGROUP gets the entry as a
/// pending one of its consumer, and Redis' error when its stream is deleted. Method: two
/// connections, replies checked as redis-server 7.0.15 gave them.
#[test]
fn blocking_reads_wait_for_entries() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("block.mmt"), &[]);
    let (mut a, mut b) = (server.raw(), server.raw());
    let (mut ra, mut rb) = (Replies::new(&a), Replies::new(&b));
    call(&mut b, &mut rb, &["XADD", "s", "1-0", "f", "v"]);
    send(
        &mut a,
        &["XREAD", "BLOCK", "0", "STREAMS", "other", "s", "$", "$"],
    );
    // Once the reader is blocked, the other connection writes, and the blocked one is answered
    // with the new entry only.
    wait_blocked(&mut b, &mut rb, 1);
    call(&mut b, &mut rb, &["XADD", "s", "2-0", "g", "w"]);
    assert_eq!(show(&ra.next()), "[[s,[[2-0,[g,w]]]]]");
    // A timeout answers nil.
    assert_eq!(
        show(&call(
            &mut a,
            &mut ra,
            &["XREAD", "BLOCK", "50", "STREAMS", "s", "$"]
        )),
        "nil"
    );
    // Inside MULTI it does not wait.
    call(&mut a, &mut ra, &["MULTI"]);
    call(
        &mut a,
        &mut ra,
        &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
    );
    assert_eq!(show(&call(&mut a, &mut ra, &["EXEC"])), "[nil]");
    // XREADGROUP: served by an XADD, the entry pending for the consumer.
    call(&mut b, &mut rb, &["XGROUP", "CREATE", "s", "g", "$"]);
    send(
        &mut a,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    wait_blocked(&mut b, &mut rb, 1);
    call(&mut b, &mut rb, &["XADD", "s", "3-0", "h", "x"]);
    assert_eq!(show(&ra.next()), "[[s,[[3-0,[h,x]]]]]");
    assert_eq!(
        show(&call(&mut b, &mut rb, &["XPENDING", "s", "g"])),
        "[:1,3-0,3-0,[[c,1]]]"
    );
    // The stream deleted: the blocked XREADGROUP ends with Redis' error.
    send(
        &mut a,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    wait_blocked(&mut b, &mut rb, 1);
    call(&mut b, &mut rb, &["DEL", "s"]);
    assert_eq!(
        show(&ra.next()),
        "-UNBLOCKED the stream key no longer exists"
    );
}
