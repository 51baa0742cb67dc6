import { Suspense } from "react";
import { TutorSearch, TutorSearchSkeleton } from "@/components/tutor-search";

export default function HomePage() {
  return (
    <div>
      <section className="relative overflow-hidden rounded-3xl bg-gradient-to-br from-indigo-600 via-indigo-500 to-violet-500 px-6 py-12 text-white shadow-lg sm:px-10 sm:py-16">
        <div aria-hidden="true" className="absolute -right-16 -top-16 h-64 w-64 rounded-full bg-white/10 blur-2xl" />
        <div aria-hidden="true" className="absolute -bottom-24 left-1/3 h-64 w-64 rounded-full bg-violet-300/20 blur-3xl" />
        <div className="relative max-w-2xl">
          <p className="text-sm font-semibold uppercase tracking-widest text-indigo-100">Live availability · instant booking</p>
          <h1 className="mt-3 text-3xl font-bold tracking-tight sm:text-5xl">Find a tutor who fits your week.</h1>
          <p className="mt-4 text-lg text-indigo-50">
            Browse friendly tutors, see their real free times update live, hold a slot while you pay, and you&apos;re in.
          </p>
        </div>
      </section>
      <div className="mt-8">
        <Suspense fallback={<TutorSearchSkeleton />}>
          <TutorSearch />
        </Suspense>
      </div>
    </div>
  );
}
