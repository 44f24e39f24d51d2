"""The cast of the demo library: who the actors are, how they look, and how many pictures they have.

Twelve actors, diverse in ethnicity, age and sex. Special cases the app must handle are here too:
actor 8 has no training data yet; actor 9 has a PDF lying among its images.
"""

from __future__ import annotations

from dataclasses import dataclass

from demo_portraits import Character

BACKGROUNDS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "blue": ((214, 228, 240), (138, 168, 208)),
    "peach": ((252, 232, 212), (226, 164, 132)),
    "mint": ((226, 242, 228), (140, 190, 152)),
    "lavender": ((240, 228, 246), (176, 150, 204)),
    "sand": ((246, 240, 216), (212, 188, 122)),
    "grey": ((226, 226, 230), (150, 152, 168)),
    "studio": ((72, 80, 100), (30, 34, 48)),
    "rose": ((250, 218, 218), (214, 140, 152)),
    "teal": ((212, 240, 240), (104, 178, 184)),
}


@dataclass(frozen=True)
class CastMember:
    id: int
    ethnicity: str
    age: int
    sex: str
    description: str
    subject: str  # how a caption describes the person
    look: Character
    images: int  # training pictures (0: none yet)
    naming: str  # file names: "id" 0000_01, "portrait" portrait_01, "camera" IMG_4821, "mixed"
    captions: str  # "all", "some" or "none"
    poster_ext: str
    poster_bg: str
    expressions: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.id:04d}_{self.ethnicity}_{self.age}_{self.sex}"


def _c(**kwargs: object) -> Character:
    return Character(**kwargs)  # type: ignore[arg-type]


CAST: tuple[CastMember, ...] = (
    CastMember(
        0, "european", 16, "male",
        "A lanky teenager with short, messy brown hair and freckles, usually in a green hoodie; "
        "plays the curious younger brother.",
        "a teenage boy with short messy brown hair and freckles, wearing a green hoodie",
        _c(skin=(241, 205, 180), hair=(112, 72, 42), hair_style="messy", eyes=(84, 134, 86),
           clothing=(58, 140, 92), clothing_style="hoodie", accent=(240, 240, 240), child=False, age=16,
           feminine=False, jaw=0.2, freckles=((-0.62, 0.4), (-0.52, 0.47), (-0.7, 0.5), (0.55, 0.42),
                                              (0.64, 0.5), (0.5, 0.52))),
        18, "id", "all", "jpg", "mint", ("smile", "grin", "neutral", "laugh", "surprised", "smirk"),
    ),
    CastMember(
        1, "african", 34, "female",
        "A composed detective with a full afro, gold earrings and a red blouse; the lead of the "
        "crime series.",
        "a woman with a full black afro and gold earrings, wearing a red blouse",
        _c(skin=(141, 85, 54), hair=(32, 24, 22), hair_style="afro", eyes=(62, 40, 26), clothing=(182, 50, 60),
           clothing_style="blouse", accent=(240, 200, 80), child=False, age=34, feminine=True, earrings=True,
           lips=(140, 58, 66), jaw=0.28),
        14, "portrait", "none", "jpg", "peach", ("neutral", "smile", "serious", "smirk"),
    ),
    CastMember(
        2, "east_asian", 27, "male",
        "A sharp young lawyer with a black undercut, rectangular glasses and a navy suit with a "
        "red tie.",
        "a young man with a black undercut and rectangular glasses, wearing a navy suit and red tie",
        _c(skin=(240, 206, 170), hair=(26, 26, 32), hair_style="undercut", eyes=(62, 42, 28),
           clothing=(40, 50, 82), clothing_style="suit", accent=(172, 40, 50), child=False, age=27,
           feminine=False, glasses="square", jaw=0.24),
        22, "mixed", "all", "webp", "grey", ("neutral", "serious", "smile", "smirk", "grin"),
    ),
    CastMember(
        3, "south_asian", 52, "female",
        "A warm family doctor with her black hair in a bun, small gold earrings and a maroon kurta.",
        "a middle-aged woman with black hair in a bun and gold earrings, wearing a maroon kurta",
        _c(skin=(198, 140, 100), hair=(42, 32, 30), hair_style="bun", eyes=(64, 42, 28), clothing=(132, 30, 52),
           clothing_style="kurta", accent=(230, 190, 80), child=False, age=52, feminine=True, earrings=True,
           lips=(150, 70, 72), jaw=0.26),
        9, "camera", "none", "jpg", "sand", ("smile", "laugh", "neutral", "grin"),
    ),
    CastMember(
        4, "latin", 8, "female",
        "A cheerful eight-year-old with brown pigtails tied with pink bands and a yellow T-shirt; "
        "the youngest of the family.",
        "a little girl with brown pigtails, wearing a yellow t-shirt",
        _c(skin=(214, 160, 120), hair=(92, 56, 32), hair_style="pigtails", eyes=(102, 68, 34),
           clothing=(245, 200, 62), clothing_style="tshirt", accent=(226, 84, 126), child=True, age=8,
           feminine=True, blush=True, jaw=0.16, face_w=1.03, face_h=0.95),
        6, "id", "none", "jpg", "rose", ("grin", "laugh", "surprised", "smile"),
    ),
    CastMember(
        5, "middle_eastern", 45, "male",
        "A gruff but kind shopkeeper with short dark hair, a full beard and an olive work shirt.",
        "a middle-aged man with short dark hair and a full beard, wearing an olive shirt",
        _c(skin=(214, 166, 128), hair=(36, 28, 26), hair_style="short", eyes=(64, 42, 28), clothing=(100, 110, 70),
           clothing_style="shirt", accent=(210, 206, 190), child=False, age=45, feminine=False, beard="full",
           brow=0.09, jaw=0.14, face_w=1.05),
        12, "portrait", "none", "jpg", "sand", ("neutral", "serious", "smile", "laugh"),
    ),
    CastMember(
        6, "european", 70, "female",
        "A sharp-witted grandmother with a white bob, round glasses and a lavender cardigan.",
        "an elderly woman with a white bob and round glasses, wearing a lavender cardigan",
        _c(skin=(247, 214, 194), hair=(236, 236, 240), hair_style="bob", eyes=(72, 122, 182),
           clothing=(170, 150, 202), clothing_style="cardigan", accent=(250, 250, 245), child=False, age=70,
           feminine=True, glasses="round", jaw=0.24),
        16, "id", "some", "jpg", "lavender", ("smile", "neutral", "smirk", "laugh", "surprised"),
    ),
    CastMember(
        7, "african", 61, "male",
        "A veteran jazz musician with a grey goatee, a flat cap, a red scarf and a brown coat.",
        "an older man with a grey goatee, wearing a grey flat cap, a red scarf and a brown coat",
        _c(skin=(110, 66, 40), hair=(200, 200, 200), hair_style="bald", eyes=(60, 40, 26), clothing=(122, 80, 50),
           clothing_style="coat", accent=(202, 60, 50), child=False, age=61, feminine=False, beard="goatee",
           hat="flatcap", hat_color=(92, 92, 98), jaw=0.18),
        8, "camera", "none", "jpg", "studio", ("smile", "neutral", "laugh", "serious"),
    ),
    CastMember(
        8, "east_asian", 12, "female",
        "A quiet schoolgirl with a black bob with bangs, in a navy sailor uniform; newly cast, no "
        "photos yet.",
        "a schoolgirl with a black bob with bangs, wearing a navy sailor uniform",
        _c(skin=(240, 206, 170), hair=(26, 26, 32), hair_style="bob", eyes=(60, 40, 26), clothing=(40, 50, 92),
           clothing_style="uniform", accent=(202, 40, 52), child=True, age=12, feminine=True, jaw=0.18),
        0, "id", "none", "jpg", "blue", ("smile",),
    ),
    CastMember(
        9, "latin", 38, "male",
        "A mechanic with wavy black hair, a moustache, a red baseball cap and a denim shirt.",
        "a man with wavy black hair and a moustache, wearing a red baseball cap and a denim shirt",
        _c(skin=(198, 145, 105), hair=(30, 25, 22), hair_style="wavy", eyes=(62, 42, 28), clothing=(72, 112, 172),
           clothing_style="shirt", accent=(232, 232, 232), child=False, age=38, feminine=False,
           beard="moustache", hat="cap", hat_color=(200, 60, 42), jaw=0.16),
        11, "portrait", "none", "jpg", "teal", ("grin", "smile", "neutral", "smirk"),
    ),
    CastMember(
        10, "middle_eastern", 23, "female",
        "An engineering student in a teal hijab and a dark bomber jacket; plays the team's hacker.",
        "a young woman in a teal hijab, wearing a dark bomber jacket",
        _c(skin=(214, 166, 128), hair=(36, 28, 26), hair_style="hijab", eyes=(102, 68, 34), clothing=(58, 58, 80),
           clothing_style="bomber", accent=(40, 142, 142), child=False, age=23, feminine=True,
           lips=(160, 90, 90), jaw=0.26),
        25, "mixed", "all", "jpg", "peach", ("smile", "neutral", "smirk", "grin", "surprised", "serious"),
    ),
    CastMember(
        11, "south_asian", 19, "male",
        "A street musician with a black quiff under a navy beanie and a mustard bomber jacket.",
        "a young man with black hair under a navy beanie, wearing a mustard bomber jacket",
        _c(skin=(180, 123, 86), hair=(26, 22, 22), hair_style="quiff", eyes=(60, 40, 26), clothing=(230, 180, 42),
           clothing_style="bomber", accent=(42, 42, 42), child=False, age=19, feminine=False, hat="beanie",
           hat_color=(52, 62, 122), jaw=0.2),
        10, "id", "none", "webp", "blue", ("laugh", "smile", "smirk", "neutral"),
    ),
)

NO_DATA_ACTOR = 8
UNSUPPORTED_FILE_ACTOR = 9
UNSUPPORTED_FILE_NAME = "reference_notes.pdf"
