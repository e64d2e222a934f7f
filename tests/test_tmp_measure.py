import re
import brotli
def test_measure(intake_client):
    for lang in ["ru", "en"]:
        html = intake_client.get(f"/{lang}/").get_data(as_text=True)
        bare = re.sub(r'<svg class="i[^>]*><use[^>]*></svg>', "", re.sub(r"<svg hidden>.*?</svg>", "", html, flags=re.S))
        c = lambda s: len(brotli.compress(s.encode(), quality=6))
        print("\nCOST", lang, c(html), c(bare), c(html) - c(bare))
