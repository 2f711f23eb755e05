"""A simulated citizen feed: realistic questions and complaints to a city government.

Payloads are shaped like the simulated platform's webhooks and go through the same
verification and parsing code as any real delivery.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from channels_adapters.simulator import simulate

# (language, topic, text). Written to sound like real citizens, typos and all.
CORPUS: list[tuple[str, str, str]] = [
    ("ca", "waste", "Bon dia, fa tres dies que no passen a recollir els contenidors del carrer Verdi. Fa una pudor horrible."),
    ("ca", "waste", "On puc portar un matalàs vell? No sé si la deixalleria el recull."),
    ("ca", "bus", "El bus V15 porta 25 minuts de retard i la pantalla de la parada no funciona."),
    ("ca", "tax", "Quan es pot pagar l'IBI fraccionat? No trobo el tràmit a la web."),
    ("ca", "lights", "Hi ha tres fanals apagats a la plaça del Sol des de dilluns, és molt fosc de nit."),
    ("ca", "noise", "Cada nit hi ha soroll d'obres a les 2 de la matinada al carrer Provença. Tenen permís?"),
    ("ca", "permits", "Quant triga la llicència d'obres menors? Vaig fer la sol·licitud fa un mes."),
    ("es", "waste", "Buenas, el contenedor amarillo de la calle Mallorca está desbordado desde el sábado."),
    ("es", "bus", "¿Por qué ha desaparecido la parada del 24 en Gran de Gràcia? Nadie avisó."),
    ("es", "tax", "Me ha llegado una multa de la zona verde pero tengo la tarjeta de residente. ¿Cómo lo reclamo?"),
    ("es", "lights", "La farola delante del número 45 de la calle Sants parpadea toda la noche."),
    ("es", "noise", "El bar de abajo pone música hasta las 3. ¿A quién tengo que llamar?"),
    ("es", "permits", "¿Necesito permiso para poner una terraza pequeña delante de mi tienda?"),
    ("en", "waste", "Hi, bulky waste pickup was booked for today but nobody came. Reference 2026-4471."),
    ("en", "bus", "Is the night bus N7 running during the strike? The app says nothing."),
    ("en", "tax", "How do I register as a resident (empadronamiento)? Can I do it online?"),
    ("en", "lights", "Street light out at the corner of Carrer de Pujades and Llacuna, it's dangerous for cyclists."),
    ("en", "permits", "What documents do I need to renew my parking permit for disabled drivers?"),
    ("fr", "bus", "Bonjour, la ligne H12 ne passe plus par l'arrêt Fort Pienc depuis lundi. C'est normal ?"),
    ("fr", "waste", "Les poubelles de la rue de Còrsega n'ont pas été vidées depuis trois jours."),
    ("fr", "tax", "Comment payer la taxe touristique pour mon appartement ? Le site ne marche pas."),
    ("pl", "waste", "Dzień dobry, kiedy będzie wywóz odpadów wielkogabarytowych na ulicy Aragó?"),
    ("pl", "bus", "Autobus 39 nie przyjechał od godziny. Czy jest jakaś awaria?"),
    ("pl", "permits", "Jak mogę zarejestrować się jako mieszkaniec? Potrzebuję tłumacza?"),
    ("fa", "lights", "سلام، چراغ‌های خیابان ما از دوشنبه خاموش است و شب‌ها خیلی تاریک است."),
    ("fa", "tax", "چطور می‌توانم برای کمک هزینه اجاره درخواست بدهم؟ مدارک لازم چیست؟"),
    ("fa", "bus", "اتوبوس خط ۷ امروز صبح اصلاً نیامد. آیا اعتصاب است؟"),
]
FOLLOW_UPS: dict[str, list[str]] = {
    "ca": ["Algú em pot respondre, si us plau?", "Continua igual avui.", "Gràcies per la resposta!"],
    "es": ["¿Alguien me puede contestar?", "Sigue igual hoy.", "Muchas gracias por la respuesta."],
    "en": ["Any update on this?", "Still the same today.", "Thanks for getting back to me!"],
    "fr": ["Quelqu'un peut me répondre ?", "Toujours pareil aujourd'hui.", "Merci pour la réponse !"],
    "pl": ["Czy ktoś może odpowiedzieć?", "Nadal bez zmian.", "Dziękuję za odpowiedź!"],
    "fa": ["کسی می‌تواند جواب بدهد؟", "امروز هم همینطور است.", "ممنون از پاسخ شما!"],
}
FIRST = ["Marta", "Jordi", "Laura", "Ahmed", "Núria", "Pau", "Agnieszka", "Reza", "Claire", "Sofía", "John", "Mehdi", "Oriol", "Kasia"]
LAST = ["Puig", "García", "Smith", "Nowak", "Karimi", "Martin", "Ferrer", "Rahimi", "Vidal", "López"]


@dataclass
class Citizen:
    id: str
    handle: str
    name: str
    language: str


@dataclass
class Feed:
    """Generates events; remembers open threads so some messages are follow-ups."""

    seed: int | None = None
    rng: random.Random = field(init=False)
    threads: list[tuple[str, str, Citizen]] = field(default_factory=list)  # (channel, thread, citizen)
    counter: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - simulation, not security
        self.run = f"{self.rng.getrandbits(40):010x}"

    def citizen(self, language: str) -> Citizen:
        n = self.rng.randrange(100_000)
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        return Citizen(f"sim-user-{n}", f"{first.lower()}{last.lower()}{n % 100}", f"{first} {last}", language)

    def event(self, now: datetime | None = None) -> dict:
        now = now or datetime.now(UTC)
        self.counter += 1
        message_id = f"sim-{self.run}-{self.counter}"
        if self.threads and self.rng.random() < 0.2:
            channel, thread, citizen = self.rng.choice(self.threads)
            text = self.rng.choice(FOLLOW_UPS[citizen.language])
        else:
            language, _topic, text = self.rng.choice(CORPUS)
            citizen = self.citizen(language)
            channel = self.rng.choices(["mention", "comment", "dm"], weights=[5, 3, 2])[0]
            thread = message_id
            self.threads.append((channel, thread, citizen))
            self.threads = self.threads[-500:]
        return {
            "type": "message", "id": message_id, "thread_id": thread, "channel": channel,
            "from": {"id": citizen.id, "handle": citizen.handle, "name": citizen.name},
            "text": text, "created_at": now.isoformat(),
        }

    def payload(self, account_id: str, events: list[dict]) -> tuple[bytes, dict[str, str]]:
        """A signed delivery of the simulated platform (other platforms' shapes: ``deliver.py``)."""
        return simulate.payload(account_id, events)

    def history(self, account_id: str, count: int, *, span: timedelta) -> list[tuple[bytes, dict[str, str]]]:
        """``count`` single-event payloads spread over the past ``span`` (demo seed)."""
        now = datetime.now(UTC)
        times = sorted(now - span * self.rng.random() for _ in range(count))
        return [self.payload(account_id, [self.event(at)]) for at in times]
