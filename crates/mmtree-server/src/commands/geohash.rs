//! The geohash arithmetic of the GEO commands, as Redis 7.0 does it (`geohash.c`,
//! `geohash_helper.c`), so that scores, positions, distances and search results agree with
//! Redis' to the last bit.
//!
//! A position is stored as a sorted-set score: the 26-bit cell numbers of its longitude (in
//! -180..180) and latitude (in -85.05112878..85.05112878, the Web-Mercator limits) interleaved
//! into 52 bits, the longitude's bit above the latitude's in each pair; a 52-bit integer is exact
//! in an f64. Reading a score back gives the centre of its cell (within ~0.6 m of what was
//! added). A search computes a step (cell size) from the radius, the cell of the centre and its
//! eight neighbours at that step, reads the score interval of each cell (a cell's members are
//! one contiguous score range), and keeps what lies inside the circle or the box by the
//! haversine distance on a sphere of Redis' radius.

/// Redis' Earth radius, in metres (the WGS-84 quadratic mean).
pub const EARTH_RADIUS_M: f64 = 6372797.560856;
pub const LONGITUDE_MIN: f64 = -180.0;
pub const LONGITUDE_MAX: f64 = 180.0;
pub const LATITUDE_MIN: f64 = -85.05112878;
pub const LATITUDE_MAX: f64 = 85.05112878;
/// Bits per coordinate of a stored score (2 × 26 = 52).
pub const STEP_MAX: u8 = 26;
/// Half the Earth's circumference in Web-Mercator metres: the widest a cell gets.
const MERCATOR_MAX: f64 = 20037726.37;
/// The standard geohash alphabet (base 32 without a, i, l, o).
const BASE32: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// The ranges a hash divides: Redis' (latitude to the Mercator limits) or the standard
/// geohash's (latitude to ±90, for GEOHASH's strings).
#[derive(Clone, Copy, Debug)]
pub struct Ranges {
    pub longitude: (f64, f64),
    pub latitude: (f64, f64),
}

pub const REDIS_RANGES: Ranges = Ranges {
    longitude: (LONGITUDE_MIN, LONGITUDE_MAX),
    latitude: (LATITUDE_MIN, LATITUDE_MAX),
};
const STANDARD_RANGES: Ranges = Ranges {
    longitude: (-180.0, 180.0),
    latitude: (-90.0, 90.0),
};

/// A cell: `step` bits of longitude and of latitude, interleaved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    pub bits: u64,
    pub step: u8,
}

/// A cell's extent, in degrees.
#[derive(Clone, Copy, Debug)]
pub struct Area {
    pub longitude: (f64, f64),
    pub latitude: (f64, f64),
}

/// True if Redis accepts the pair as a position (GEOADD, FROMLONLAT, GEORADIUS).
pub fn valid(longitude: f64, latitude: f64) -> bool {
    (LONGITUDE_MIN..=LONGITUDE_MAX).contains(&longitude)
        && (LATITUDE_MIN..=LATITUDE_MAX).contains(&latitude)
}

/// The low 32 bits of `v` moved to the even bit positions of the result.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    x = (x | (x << 1)) & 0x5555_5555_5555_5555;
    x
}

/// The inverse of `spread`: the even bits of `x`, packed.
fn gather(x: u64) -> u32 {
    let mut x = x & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// Latitude cell number on the even bits, longitude's on the odd ones.
fn interleave(latitude: u32, longitude: u32) -> u64 {
    spread(latitude) | (spread(longitude) << 1)
}

/// (latitude cell number, longitude cell number).
fn deinterleave(bits: u64) -> (u32, u32) {
    (gather(bits), gather(bits >> 1))
}

/// The cell of `step` bits per coordinate holding the position (the caller has checked it
/// with `valid`). As Redis, the offsets are truncated to integers, so the maximum latitude or
/// longitude falls just past the last cell.
pub fn encode(ranges: Ranges, longitude: f64, latitude: f64, step: u8) -> Cell {
    let (lat_min, lat_max) = ranges.latitude;
    let (lon_min, lon_max) = ranges.longitude;
    let cells = (1u64 << step) as f64;
    let lat_offset = (latitude - lat_min) / (lat_max - lat_min) * cells;
    let lon_offset = (longitude - lon_min) / (lon_max - lon_min) * cells;
    Cell {
        bits: interleave(lat_offset as u32, lon_offset as u32),
        step,
    }
}

/// A cell's extent in Redis' ranges.
pub fn decode(cell: Cell) -> Area {
    let (lat_min, lat_max) = REDIS_RANGES.latitude;
    let (lon_min, lon_max) = REDIS_RANGES.longitude;
    let (lat, lon) = deinterleave(cell.bits);
    let cells = (1u64 << cell.step) as f64;
    let (lat_scale, lon_scale) = (lat_max - lat_min, lon_max - lon_min);
    let at = |n: u32, min: f64, scale: f64| min + (f64::from(n) / cells) * scale;
    Area {
        latitude: (
            at(lat, lat_min, lat_scale),
            at(lat.wrapping_add(1), lat_min, lat_scale),
        ),
        longitude: (
            at(lon, lon_min, lon_scale),
            at(lon.wrapping_add(1), lon_min, lon_scale),
        ),
    }
}

/// The 52-bit score of a position (GEOADD's).
pub fn score_of(longitude: f64, latitude: f64) -> u64 {
    let cell = encode(REDIS_RANGES, longitude, latitude, STEP_MAX);
    align52(cell)
}

/// A cell's bits shifted to the top of 52 (the lowest score of the cell).
fn align52(cell: Cell) -> u64 {
    cell.bits << (52 - 2 * u32::from(cell.step))
}

/// The position a score stands for: the centre of its cell, clamped to the valid ranges.
/// (Any score decodes: a score no GEOADD wrote gives some position, as in Redis.)
pub fn position(score: f64) -> (f64, f64) {
    let area = decode(Cell {
        bits: score as u64,
        step: STEP_MAX,
    });
    let longitude =
        ((area.longitude.0 + area.longitude.1) / 2.0).clamp(LONGITUDE_MIN, LONGITUDE_MAX);
    let latitude = ((area.latitude.0 + area.latitude.1) / 2.0).clamp(LATITUDE_MIN, LATITUDE_MAX);
    (longitude, latitude)
}

/// GEOHASH's 11-character string for a score: its position re-encoded in the standard ranges
/// (latitude to ±90) at 52 bits, 5 bits a character, the eleventh character '0' (there are
/// only 52 bits).
pub fn geohash_string(score: f64) -> [u8; 11] {
    let (longitude, latitude) = position(score);
    let bits = encode(STANDARD_RANGES, longitude, latitude, STEP_MAX).bits;
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().take(10).enumerate() {
        let index = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = BASE32[index as usize];
    }
    out
}

fn radians(degrees: f64) -> f64 {
    degrees * (std::f64::consts::PI / 180.0)
}

fn degrees(radians: f64) -> f64 {
    radians / (std::f64::consts::PI / 180.0)
}

/// The distance along a meridian between two latitudes, in metres.
pub fn latitude_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (radians(lat2) - radians(lat1)).abs()
}

/// The great-circle (haversine) distance in metres, as Redis computes it (the argument order
/// matters to the last bit).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let v = ((radians(lon2) - radians(lon1)) / 2.0).sin();
    // The same longitude: a distance along the meridian (cheaper, and what Redis answers).
    if v == 0.0 {
        return latitude_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (radians(lat1), radians(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// What a search covers, around `center` (longitude, latitude).
#[derive(Clone, Copy, Debug)]
pub enum Extent {
    /// A circle of this radius (in the unit).
    Radius(f64),
    /// An axis-aligned box of this width and height (in the unit).
    Box { width: f64, height: f64 },
}

/// A search area: where, what, and the unit's size in metres.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub center: (f64, f64),
    pub extent: Extent,
    /// Metres per unit (m 1, km 1000, ft 0.3048, mi 1609.34).
    pub unit: f64,
}

impl Shape {
    /// The longitude and latitude bounds [min lon, min lat, max lon, max lat] of the area. A
    /// box's sides bend with the latitude, so its widest edge is the one nearer the equator.
    fn bounds(&self) -> [f64; 4] {
        let (longitude, latitude) = self.center;
        let (half_height, half_width) = match self.extent {
            Extent::Radius(r) => (self.unit * r, self.unit * r),
            Extent::Box { width, height } => {
                (self.unit * (height / 2.0), self.unit * (width / 2.0))
            }
        };
        let lat_delta = degrees(half_height / EARTH_RADIUS_M);
        let lon_delta_top =
            degrees(half_width / EARTH_RADIUS_M / radians(latitude + lat_delta).cos());
        let lon_delta_bottom =
            degrees(half_width / EARTH_RADIUS_M / radians(latitude - lat_delta).cos());
        let lon_delta = if latitude < 0.0 {
            lon_delta_bottom
        } else {
            lon_delta_top
        };
        [
            longitude - lon_delta,
            latitude - lat_delta,
            longitude + lon_delta,
            latitude + lat_delta,
        ]
    }

    /// The distance in metres from the centre to the farthest point of the area (a box's
    /// corner, on a flat plane).
    fn reach_m(&self) -> f64 {
        let reach = match self.extent {
            Extent::Radius(r) => r,
            Extent::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        };
        reach * self.unit
    }

    /// The distance in metres from the centre to the point, if the point is inside.
    pub fn contains(&self, longitude: f64, latitude: f64) -> Option<f64> {
        let (x, y) = self.center;
        match self.extent {
            Extent::Radius(r) => {
                let d = distance(x, y, longitude, latitude);
                (d <= r * self.unit).then_some(d)
            }
            Extent::Box { width, height } => {
                // The latitude first: it is the cheaper one.
                if latitude_distance(latitude, y) > height * self.unit / 2.0 {
                    return None;
                }
                if distance(longitude, latitude, x, latitude) > width * self.unit / 2.0 {
                    return None;
                }
                Some(distance(x, y, longitude, latitude))
            }
        }
    }
}

/// The step whose cells are a little larger than a search of `radius_m` metres at `latitude`
/// (wider towards the poles, where the meridians close up).
fn step_for(radius_m: f64, latitude: f64) -> u8 {
    if radius_m == 0.0 {
        return STEP_MAX;
    }
    let mut range = radius_m;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&latitude) {
        step -= 1;
        if !(-80.0..=80.0).contains(&latitude) {
            step -= 1;
        }
    }
    step.clamp(1, i32::from(STEP_MAX)) as u8
}

/// The cell `east` columns east and `north` rows north of `cell`, wrapping around at the edges
/// of the grid.
fn moved(cell: Cell, east: i32, north: i32) -> Cell {
    let mask = (1u64 << cell.step) - 1;
    let (lat, lon) = deinterleave(cell.bits);
    let shift = |n: u32, by: i32| ((i64::from(n) + i64::from(by)) as u64 & mask) as u32;
    Cell {
        bits: interleave(shift(lat, north), shift(lon, east)),
        step: cell.step,
    }
}

/// The nine cells a search reads, in Redis' order: the centre's, then north, south, east,
/// west, north-east, north-west, south-east, south-west; None for a neighbour the area does
/// not reach.
pub fn search_cells(shape: &Shape) -> [Option<Cell>; 9] {
    let [min_lon, min_lat, max_lon, max_lat] = shape.bounds();
    let (longitude, latitude) = shape.center;
    let mut step = step_for(shape.reach_m(), latitude);
    let around = |step: u8| {
        let cell = encode(REDIS_RANGES, longitude, latitude, step);
        let at = |east, north| Some(moved(cell, east, north));
        let cells = [
            Some(cell),
            at(0, 1),
            at(0, -1),
            at(1, 0),
            at(-1, 0),
            at(1, 1),
            at(-1, 1),
            at(1, -1),
            at(-1, -1),
        ];
        (cell, cells)
    };
    let (mut cell, mut cells) = around(step);
    // Near a cell's edge the neighbours at this step may not reach the whole area: one step
    // coarser then.
    let reach = |c: Option<Cell>| decode(c.expect("a neighbour"));
    let short = reach(cells[1]).latitude.1 < max_lat
        || reach(cells[2]).latitude.0 > min_lat
        || reach(cells[3]).longitude.1 < max_lon
        || reach(cells[4]).longitude.0 > min_lon;
    if step > 1 && short {
        step -= 1;
        (cell, cells) = around(step);
    }
    // Leave out the neighbours on the sides the area does not reach past the centre's cell.
    if step >= 2 {
        let area = decode(cell);
        let mut drop = |which: [usize; 3]| which.iter().for_each(|&i| cells[i] = None);
        if area.latitude.0 < min_lat {
            drop([2, 8, 7]);
        }
        if area.latitude.1 > max_lat {
            drop([1, 5, 6]);
        }
        if area.longitude.0 < min_lon {
            drop([4, 8, 6]);
        }
        if area.longitude.1 > max_lon {
            drop([3, 7, 5]);
        }
    }
    cells
}

/// The score interval [min, max) of a cell's members.
pub fn score_interval(cell: Cell) -> (f64, f64) {
    let next = Cell {
        bits: cell.bits + 1,
        step: cell.step,
    };
    (align52(cell) as f64, align52(next) as f64)
}

/// A distance as Redis prints it: rounded (half to even) to 4 decimals, `0.7750`.
pub fn format_distance(d: f64) -> String {
    let scaled = (d * 10000.0).round_ties_even();
    if !scaled.is_finite() || scaled.abs() >= 9.2e18 {
        // Beyond what Redis' fixed-point printer handles; never a distance on Earth.
        return format!("{d:.4}");
    }
    let n = scaled as i64;
    let sign = if n < 0 { "-" } else { "" };
    let n = n.unsigned_abs();
    format!("{sign}{}.{:04}", n / 10000, n % 10000)
}

/// A coordinate as Redis prints it (`%.17Lf`, trailing zeros and a trailing dot removed).
pub fn format_coordinate(x: f64) -> String {
    let s = format!("{x:.17}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: scores are the 52-bit values Redis stores. Method: the scores Redis' own geo unit
    /// expects after its GEOADD of seven New York places (ZRANGE WITHSCORES).
    #[test]
    fn scores_match_redis() {
        let places = [
            (-74.0131604, 40.7126674, 1791873972053020u64),
            (-73.9903085, 40.7362513, 1791875485187452),
            (-73.9733487, 40.7648057, 1791875761332224),
            (-73.9564142, 40.7480973, 1791875796750882),
            (-73.9454966, 40.747533, 1791875804419201),
            (-73.9375699, 40.7498929, 1791875830079666),
            (-73.7858139, 40.6428986, 1791895905559723),
        ];
        for (lon, lat, score) in places {
            assert_eq!(score_of(lon, lat), score, "{lon},{lat}");
        }
        // The corners: the maxima fall just past the last cell, as in Redis.
        assert_eq!(score_of(-180.0, LATITUDE_MIN), 0);
        assert_eq!(score_of(180.0, LATITUDE_MAX), 3 << 52);
    }

    /// Goal: GEOHASH strings are Redis'. Method: the Wikipedia example Redis' unit checks, and
    /// Redis' documented examples for Palermo and Catania.
    #[test]
    fn geohash_strings_match_redis() {
        let s = |lon, lat| {
            String::from_utf8(geohash_string(score_of(lon, lat) as f64).to_vec()).unwrap()
        };
        assert_eq!(s(-5.6, 42.6), "ezs42e44yx0");
        assert_eq!(s(13.361389, 38.115556), "sqc8b49rny0");
        assert_eq!(s(15.087269, 37.502669), "sqdtr74hyu0");
    }

    /// Goal: positions and distances print as Redis prints them. Method: Redis' documented
    /// GEOPOS and GEODIST answers for Palermo and Catania.
    #[test]
    fn positions_and_distances_match_redis() {
        let palermo = position(score_of(13.361389, 38.115556) as f64);
        let catania = position(score_of(15.087269, 37.502669) as f64);
        assert_eq!(format_coordinate(palermo.0), "13.36138933897018433");
        assert_eq!(format_coordinate(palermo.1), "38.11555639549629859");
        assert_eq!(format_coordinate(catania.0), "15.08726745843887329");
        assert_eq!(format_coordinate(catania.1), "37.50266842333162032");
        let d = distance(palermo.0, palermo.1, catania.0, catania.1);
        assert_eq!(format_distance(d), "166274.1516");
        assert_eq!(format_distance(d / 1000.0), "166.2742");
        assert_eq!(format_distance(d / 1609.34), "103.3182");
        assert_eq!(format_distance(0.0), "0.0000");
        assert_eq!(format_distance(0.00004), "0.0000");
        assert_eq!(format_distance(0.7750), "0.7750");
        assert_eq!(format_coordinate(-0.0), "0");
        assert_eq!(format_coordinate(10.5), "10.5");
    }

    /// Goal: the bit interleaving round-trips and moving a cell wraps at the grid's edge.
    /// Method: every bit alone, then moves from the corners.
    #[test]
    fn interleaving_round_trips_and_neighbours_wrap() {
        for i in 0..32 {
            let v = 1u32 << i;
            assert_eq!(deinterleave(interleave(v, 0)), (v, 0));
            assert_eq!(deinterleave(interleave(0, v)), (0, v));
        }
        let corner = Cell { bits: 0, step: 3 };
        assert_eq!(deinterleave(moved(corner, -1, -1).bits), (7, 7));
        assert_eq!(deinterleave(moved(corner, 1, 0).bits), (0, 1));
        let top = Cell {
            bits: interleave(7, 7),
            step: 3,
        };
        assert_eq!(moved(top, 1, 1).bits, 0);
    }

    /// Goal: the step follows the radius as Redis', coarser near the poles. Method: a few
    /// radii and latitudes.
    #[test]
    fn the_step_follows_the_radius() {
        assert_eq!(step_for(0.0, 0.0), 26);
        assert_eq!(step_for(1.0, 0.0), 24);
        assert_eq!(step_for(3000.0, 0.0), 12);
        assert_eq!(step_for(3000.0, 70.0), 11);
        assert_eq!(step_for(3000.0, -85.0), 10);
        assert_eq!(step_for(50_000_000.0, 0.0), 1);
    }
}
