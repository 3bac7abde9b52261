//! The GEO family of `mmtree serve`. The expected replies are redis-server 7.0.15's, captured by
//! sending the same commands to it (`scripts/geo-differential.py` compares the two servers on
//! random searches).

mod common;

use common::*;

/// Goal: GEOADD stores Redis' scores in a sorted set, and GEOPOS, GEOHASH and GEODIST answer
/// as Redis does, with its errors for bad options, coordinates, units and types. Method: a
/// table of commands and redis-server's replies, on one connection.
#[test]
fn geoadd_geopos_geohash_geodist_answer_as_redis() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("geo1.mmt"), &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    table(
        &mut c,
        &mut r,
        &[
            ("FLUSHALL", "+OK"),
            ("GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania", ":2"),
            ("TYPE Sicily", "+zset"),
            ("ZRANGE Sicily 0 -1 WITHSCORES", "[Palermo,3479099956230698,Catania,3479447370796909]"),
            ("GEOPOS Sicily Palermo nope Catania", "[[13.36138933897018433,38.11555639549629859],nil,[15.08726745843887329,37.50266842333162032]]"),
            ("GEOHASH Sicily Palermo Catania nope", "[sqc8b49rny0,sqdtr74hyu0,nil]"),
            ("GEODIST Sicily Palermo Catania", "166274.1516"),
            ("GEODIST Sicily Palermo Catania km", "166.2742"),
            ("GEODIST Sicily Palermo Catania mi", "103.3182"),
            ("GEODIST Sicily Palermo Catania ft", "545518.8700"),
            ("GEODIST Sicily Palermo nope", "nil"),
            ("GEODIST nokey Palermo Catania", "nil"),
            ("GEODIST Sicily Palermo Catania yd", "-ERR unsupported unit provided. please use M, KM, FT, MI"),
            ("GEODIST Sicily Palermo Catania km x", "-ERR syntax error"),
            ("GEOADD Sicily NX 13.5 38.5 Palermo 12.5 37.8 Marsala", ":1"),
            ("GEOADD Sicily XX CH 13.361389 38.115556 Palermo 14.5 38.0 Nowhere", ":0"),
            ("GEOADD Sicily CH XX 13.4 38.1 Palermo", ":1"),
            ("GEOADD Sicily NX XX 13.4 38.1 Palermo", "-ERR syntax error"),
            ("GEOADD Sicily 13.4 38.1", "-ERR wrong number of arguments for 'geoadd' command"),
            ("GEOADD Sicily 181 10 far", "-ERR invalid longitude,latitude pair 181.000000,10.000000"),
            ("GEOADD Sicily 10 85.06 far", "-ERR invalid longitude,latitude pair 10.000000,85.060000"),
            ("GEOADD Sicily x 10 far", "-ERR value is not a valid float"),
            ("GEOADD Sicily 10", "-ERR wrong number of arguments for 'geoadd' command"),
            ("GEOPOS nokey a", "[nil]"),
            ("GEOHASH nokey a", "[nil]"),
            ("SET str x", "+OK"),
            ("GEOADD str 1 2 a", "-WRONGTYPE Operation against a key holding the wrong kind of value"),
            ("GEOPOS str a", "-WRONGTYPE Operation against a key holding the wrong kind of value"),
            ("GEOSEARCH str FROMLONLAT 1 2 BYRADIUS 1 km", "-WRONGTYPE Operation against a key holding the wrong kind of value"),
            ("GEORADIUS str 1 2 1 km STORE d", "-WRONGTYPE Operation against a key holding the wrong kind of value"),
            ("ZCARD Sicily", ":3"),
        ],
    );
}

/// Goal: GEORADIUS, GEORADIUSBYMEMBER, their _RO forms, GEOSEARCH and GEOSEARCHSTORE find,
/// order, count and store what Redis does (ANY's cell order, DESC, STORE and STOREDIST, an
/// absent source), with its errors; across the poles and the antimeridian, and with a radius
/// larger than the Earth. Method: a table of commands and redis-server's replies.
#[test]
fn searches_answer_as_redis() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("geo2.mmt"), &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    table(
        &mut c,
        &mut r,
        &[
            ("FLUSHALL", "+OK"),
            ("GEOADD nyc -73.9454966 40.747533 lic -73.9733487 40.7648057 central -73.9903085 40.7362513 union -74.0131604 40.7126674 wtc -73.7858139 40.6428986 jfk -73.9375699 40.7498929 q4 -73.9564142 40.7480973 4545", ":7"),
            ("GEORADIUS nyc -73.9798091 40.7598464 3 km ASC", "[central,4545,union]"),
            ("GEORADIUS nyc -73.9798091 40.7598464 3 km WITHDIST WITHCOORD WITHHASH ASC", "[[central,0.7750,:1791875761332224,[-73.97334784269332886,40.76480639569881959]],[4545,2.3651,:1791875796750882,[-73.95641237497329712,40.74809751381645384]],[union,2.7697,:1791875485187452,[-73.99031013250350952,40.73625022711770782]]]"),
            ("GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT 3 ANY", "[wtc,union,central]"),
            ("GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT 2 DESC", "[wtc,q4]"),
            ("GEORADIUS nyc -73.9798091 40.7598464 10 km ANY ASC", "-ERR the ANY argument requires COUNT argument"),
            ("GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT 0", "-ERR COUNT must be > 0"),
            ("GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT x", "-ERR value is not an integer or out of range"),
            ("GEORADIUS nyc -73.9798091 40.7598464 -1 km", "-ERR radius cannot be negative"),
            ("GEORADIUS nyc -73.9798091 40.7598464 abc km", "-ERR need numeric radius"),
            ("GEORADIUS nyc -73.9798091 40.7598464 1 lightyears", "-ERR unsupported unit provided. please use M, KM, FT, MI"),
            ("GEORADIUS nyc -73.9798091 40.7598464 10 km STORE", "-ERR syntax error"),
            ("GEORADIUS nyc -73.9798091 40.7598464 10 km STORE d WITHDIST", "-ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options"),
            ("GEORADIUS_RO nyc -73.9798091 40.7598464 10 km STORE d", "-ERR syntax error"),
            ("GEORADIUSBYMEMBER nyc wtc 7 km WITHDIST", "[[wtc,0.0000],[union,3.2544],[central,6.7000],[4545,6.1975],[lic,6.8969]]"),
            ("GEORADIUSBYMEMBER nyc nope 7 km", "-ERR could not decode requested zset member"),
            ("GEORADIUSBYMEMBER nokey nope x y STORE d", ":0"),
            ("GEORADIUSBYMEMBER_RO nyc wtc 7 km COUNT 2 DESC", "[lic,central]"),
            ("GEOSEARCH nyc FROMLONLAT -73.9798091 40.7598464 BYBOX 6 6 km ASC WITHDIST", "[[central,0.7750],[4545,2.3651],[union,2.7697],[lic,3.1991]]"),
            ("GEOSEARCH nyc FROMMEMBER wtc BYBOX 14 14 km", "[wtc,union,central,4545,lic,q4]"),
            ("GEOSEARCH nyc FROMMEMBER wtc FROMLONLAT 1 1 BYBOX 14 14 km", "-ERR syntax error"),
            ("GEOSEARCH nyc BYBOX 14 14 km", "-ERR wrong number of arguments for 'geosearch' command"),
            ("GEOSEARCH nyc FROMMEMBER wtc", "-ERR wrong number of arguments for 'geosearch' command"),
            ("GEOSEARCH nyc FROMMEMBER wtc BYBOX -1 14 km", "-ERR height or width cannot be negative"),
            ("GEOSEARCH nyc FROMMEMBER wtc BYRADIUS 1 km BYBOX 1 1 km", "-ERR syntax error"),
            ("GEOSEARCH nyc FROMMEMBER wtc BYRADIUS 1 km STOREDIST", "-ERR syntax error"),
            ("GEOSEARCHSTORE d nyc FROMMEMBER wtc BYRADIUS 5 km STOREDIST", ":2"),
            ("ZRANGE d 0 -1 WITHSCORES", "[wtc,0,union,3.254395457335749]"),
            ("GEOSEARCHSTORE d nyc FROMMEMBER wtc BYRADIUS 5 km WITHDIST", "-ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options"),
            ("GEOSEARCHSTORE d nyc FROMMEMBER wtc BYRADIUS 5 km", ":2"),
            ("ZRANGE d 0 -1 WITHSCORES", "[wtc,1791873972053020,union,1791875485187452]"),
            ("GEORADIUS nyc -73.9798091 40.7598464 3 km STORE d2 STOREDIST d3", ":3"),
            ("EXISTS d2 d3", ":1"),
            ("ZRANGE d3 0 -1 WITHSCORES", "[central,0.77501636173928778,4545,2.3651170851181265,union,2.7696655797195091]"),
            ("GEOSEARCHSTORE d3 nyc FROMLONLAT 0 0 BYRADIUS 1 km", ":0"),
            ("EXISTS d3", ":0"),
            ("GEOSEARCH nyc FROMLONLAT 200 0 BYRADIUS 1 km", "-ERR invalid longitude,latitude pair 200.000000,0.000000"),
            ("GEOSEARCH nokey FROMMEMBER x BYRADIUS 1 km", "[]"),
            ("GEOSEARCH nokey FROMLONLAT 0 0 BYRADIUS 1 km COUNT 1 ANY WITHCOORD", "[]"),
            ("FLUSHALL", "+OK"),
            ("GEOADD k1 45 65 n1 -135 85.05 n2", ":2"),
            ("GEORADIUSBYMEMBER k1 n1 5009431 m", "[n1,n2]"),
            ("GEOADD points 179.5 36 point1 -179.5 36 point2", ":2"),
            ("GEOSEARCH points FROMLONLAT 179 37 BYBOX 400 400 km ASC", "[point1,point2]"),
            ("GEOSEARCH points FROMLONLAT -179 37 BYBOX 400 400 km ASC WITHDIST WITHCOORD", "[[point2,119.8737,[-179.50000137090682983,35.99999953955607168]],[point1,174.2313,[179.50000137090682983,35.99999953955607168]]]"),
            ("GEOADD users -47.271613776683807 -54.534504198047678 user_000000", ":1"),
            ("GEORADIUS users 0 0 50000 km WITHCOORD", "[[user_000000,[-47.27161377668380737,-54.5345041980476779]]]"),
            ("GEOADD corner 180 85.05112878 ne -180 -85.05112878 sw", ":2"),
            ("GEOPOS corner ne sw", "[[180,85.0511287799999991],[-179.99999731779098511,-85.05112751263942528]]"),
            ("GEOHASH corner ne sw", "[bp05b5048p0,00bh0hbj200]"),
            ("GEORADIUS corner 0 0 0 m", "[]"),
            ("GEOSEARCH points FROMLONLAT 179 37 BYBOX 0 0 km", "[]"),
        ],
    );
    // After HELLO 3 the coordinates are doubles; distances stay bulk strings, as in Redis.
    assert!(matches!(
        call(&mut c, &mut r, &["HELLO", "3"]),
        Value::Map(_)
    ));
    table(
        &mut c,
        &mut r,
        &[
            ("GEOPOS points point1", "[[,179.50000137090682983,,35.99999953955607168]]"),
            ("GEORADIUS points 179 37 400 km WITHCOORD WITHDIST WITHHASH", "[[point1,119.8737,:4217626865679811,[,179.50000137090682983,,35.99999953955607168]],[point2,174.2313,:1215245657118569,[,-179.50000137090682983,,35.99999953955607168]]]"),
            ("GEODIST points point1 point2", "89983.3261"),
        ],
    );
}

/// Goal: inside MULTI a search sees the transaction's earlier GEOADD and GEORADIUS … STORE
/// writes in its place; COMMAND GETKEYS finds a STORE key and GEOSEARCHSTORE's two keys.
/// Method: a transaction, then the key lookups, with redis-server's replies.
#[test]
fn searches_inside_multi_and_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("geo3.mmt"), &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    table(
        &mut c,
        &mut r,
        &[
            ("FLUSHALL", "+OK"),
            ("GEOADD g 13.361389 38.115556 Palermo", ":1"),
            ("MULTI", "+OK"),
            ("GEOADD g 15.087269 37.502669 Catania", "+QUEUED"),
            (
                "GEOSEARCH g FROMMEMBER Palermo BYRADIUS 200 km ASC WITHDIST",
                "+QUEUED",
            ),
            ("GEORADIUS g 15 37 200 km STORE near", "+QUEUED"),
            ("ZRANGE near 0 -1", "+QUEUED"),
            ("GEODIST g Palermo Catania km", "+QUEUED"),
            (
                "EXEC",
                "[:1,[[Palermo,0.0000],[Catania,166.2742]],:2,[Palermo,Catania],166.2742]",
            ),
            (
                "COMMAND GETKEYS GEORADIUS g 15 37 200 km STORE near",
                "[g,near]",
            ),
            (
                "COMMAND GETKEYS GEORADIUSBYMEMBER g Palermo 200 km STOREDIST near",
                "[g,near]",
            ),
            (
                "COMMAND GETKEYS GEOSEARCHSTORE dst src FROMMEMBER m BYRADIUS 1 km",
                "[dst,src]",
            ),
        ],
    );
    let Value::Array(info) = call(
        &mut c,
        &mut r,
        &["COMMAND", "INFO", "GEORADIUS", "GEOSEARCH"],
    ) else {
        panic!("COMMAND INFO is an array");
    };
    assert_eq!(
        show(&info[0]),
        "[georadius,:-6,[+write,+movablekeys],:1,:1,:1,[],[],[],[]]"
    );
    assert_eq!(
        show(&info[1]),
        "[geosearch,:-7,[+readonly],:1,:1,:1,[],[],[],[]]"
    );
}
